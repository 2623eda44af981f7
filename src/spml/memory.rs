//! SPML's memory bank: the prototypes of the last few training steps, kept
//! (detached) with their labels and image tags, so each step's semantic
//! relations also compare pixels with segments of earlier batches.

use std::collections::VecDeque;

use weakseg_kernels::Result;

use crate::tensor::Tensor;

/// One step's segments as remembered.
pub struct Remembered {
    /// Prototypes [S, D], detached.
    pub prototypes: Tensor,
    /// Each segment's label (255 when unlabelled).
    pub labels: Vec<u32>,
    /// Each segment's image tags, one bit per foreground class.
    pub tags: Vec<u64>,
}

/// The last `size` steps' segments, oldest first (first in, first out).
pub struct MemoryBank {
    size: usize,
    entries: VecDeque<Remembered>,
}

impl MemoryBank {
    /// A bank of `size` steps (SPML: 2); 0 keeps nothing.
    pub fn new(size: usize) -> MemoryBank {
        MemoryBank {
            size,
            entries: VecDeque::new(),
        }
    }

    /// Remembers one step, forgetting the oldest beyond the size.
    pub fn push(&mut self, prototypes: &Tensor, labels: Vec<u32>, tags: Vec<u64>) {
        if self.size == 0 {
            return;
        }
        self.entries.push_back(Remembered {
            prototypes: prototypes.detach(),
            labels,
            tags,
        });
        while self.entries.len() > self.size {
            self.entries.pop_front();
        }
    }

    /// Steps remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Everything remembered as one block: prototypes [M, D] (None when
    /// empty), labels and tags.
    pub fn all(&self) -> Result<(Option<Tensor>, Vec<u32>, Vec<u64>)> {
        if self.entries.is_empty() {
            return Ok((None, Vec::new(), Vec::new()));
        }
        let protos: Vec<Tensor> = self.entries.iter().map(|e| e.prototypes.clone()).collect();
        let labels = self
            .entries
            .iter()
            .flat_map(|e| e.labels.iter().copied())
            .collect();
        let tags = self
            .entries
            .iter()
            .flat_map(|e| e.tags.iter().copied())
            .collect();
        Ok((Some(Tensor::concat(&protos, 0)?), labels, tags))
    }
}
