//! Reverse-mode differentiation: walk the graph in topological order from a
//! scalar loss, call each op's backward once, and accumulate gradients into
//! the leaves that require them. Each node's backward (and the tensors it
//! saved) is released as soon as it has run.

use std::collections::{HashMap, HashSet};

use weakseg_kernels::launch::elementwise::axpby_inplace;
use weakseg_kernels::{Error, Result};

use crate::tensor::{Tensor, no_grad};

impl Tensor {
    /// Back-propagates from this tensor, seeded with ones (a scalar loss).
    pub fn backward(&self) -> Result<()> {
        let seed = Tensor::ones(self.gpu(), self.shape())?;
        self.backward_with(seed)
    }

    /// Back-propagates from this tensor, seeded with `grad` of its shape.
    pub fn backward_with(&self, grad: Tensor) -> Result<()> {
        if grad.shape() != self.shape() {
            return Err(Error::invalid(
                "backward",
                format!(
                    "seed shape {:?} differs from output shape {:?}",
                    grad.shape(),
                    self.shape()
                ),
            ));
        }
        if !self.requires_grad() {
            return Err(Error::invalid(
                "backward",
                "the tensor does not depend on anything that requires gradients",
            ));
        }
        no_grad(|| run(self, grad))
    }
}

fn topological(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = t.0.node.borrow().as_ref() {
            for p in &node.parents {
                if p.requires_grad() && !seen.contains(&p.id()) {
                    stack.push((p.clone(), false));
                }
            }
        }
    }
    order
}

fn accumulate(map: &mut HashMap<usize, Tensor>, t: &Tensor, g: Tensor) -> Result<()> {
    if g.shape() != t.shape() {
        return Err(Error::invalid(
            "backward",
            format!(
                "gradient of shape {:?} for a tensor of shape {:?}",
                g.shape(),
                t.shape()
            ),
        ));
    }
    let merged = match map.remove(&t.id()) {
        Some(prev) => prev.add(&g)?,
        None => g,
    };
    map.insert(t.id(), merged);
    Ok(())
}

fn accumulate_leaf(t: &Tensor, g: Tensor) -> Result<()> {
    if let Some(slot) = t.grad_slot_held() {
        let gh = g.held();
        return axpby_inplace(t.gpu(), slot.v(), gh.v(), 1.0, 1.0);
    }
    let prev = t.0.grad.borrow_mut().take();
    let next = match prev {
        Some(p) => p.add(&g)?,
        None => g,
    };
    *t.0.grad.borrow_mut() = Some(next);
    Ok(())
}

fn run(root: &Tensor, seed: Tensor) -> Result<()> {
    let mut order = topological(root);
    let mut grads = HashMap::new();
    grads.insert(root.id(), seed);
    while let Some(t) = order.pop() {
        let Some(g) = grads.remove(&t.id()) else {
            continue;
        };
        let node = t.0.node.borrow_mut().take();
        match node {
            None => accumulate_leaf(&t, g)?,
            Some(node) => {
                let parent_grads = (node.backward)(&g)?;
                for (p, pg) in node.parents.iter().zip(parent_grads) {
                    if let (Some(pg), true) = (pg, p.requires_grad()) {
                        accumulate(&mut grads, p, pg)?;
                    }
                }
            }
        }
    }
    Ok(())
}
