//! Refinement of class activation maps into pseudo-masks: the dense CRF
//! ([`crf`]) on the GPU's permutohedral lattice.

pub mod crf;
