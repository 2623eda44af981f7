//! Interactive segmentation: a user's clicks (or DEXTR's extreme points)
//! encoded as guidance maps ([`clicks`]) and read by a segmenter together
//! with the image ([`net`]). Simulated users train and evaluate it
//! (`pipeline::interactive`).

pub mod clicks;
pub mod net;

pub use clicks::{Click, Guidance};
pub use net::InteractiveNet;
