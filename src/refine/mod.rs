//! Refinement of class activation maps into pseudo-masks: the dense CRF
//! ([`crf`]) on the GPU's permutohedral lattice and the CAM → CRF → labels
//! step of psa and IRN ([`cam_crf`]), and the random walk over
//! learned pixel affinities ([`random_walk`]); masks from bounding boxes
//! ([`boxes`]); and DSRG's seeded region growing ([`region_growing`]).

pub mod affinity;
pub mod boxes;
pub mod cam_crf;
pub mod crf;
pub mod random_walk;
pub mod region_growing;
