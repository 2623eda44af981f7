//! SPML (Ke, Hwang & Yu, ICLR 2021): one pixel-embedding method for every
//! weak label. An embedding network is trained with a pixel-to-segment
//! contrastive loss whose segments come from per-image spherical k-means,
//! split by pseudo labels and superpixels, and whose positives come from
//! four relations (image similarity, semantic annotation, semantic
//! co-occurrence, feature affinity), with a memory bank of earlier segments. Images are then
//! labelled by their segments' nearest training prototypes, or their CAMs
//! propagated by a random walk over the embedding.

pub mod inference;
pub mod loss;
pub mod memory;
pub mod net;
pub mod segments;
pub mod walk;

pub use inference::{PrototypeBank, spread};
pub use loss::{
    Relation, Relations, SpmlBatch, SpmlLoss, contrastive, contrastive_masked,
    feature_affinity_masks,
};
pub use memory::MemoryBank;
pub use net::EmbeddingNet;
pub use segments::{Segmented, Segments, block_labels, grid_kmeans, segment};
pub use walk::EmbeddingWalk;
