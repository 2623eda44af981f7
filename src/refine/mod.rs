//! Refinement of class activation maps into pseudo-masks: the dense CRF
//! ([`crf`]) on the GPU's permutohedral lattice, and the random walk over
//! learned pixel affinities ([`random_walk`]); and masks from bounding
//! boxes ([`boxes`]).

pub mod affinity;
pub mod boxes;
pub mod crf;
pub mod random_walk;
