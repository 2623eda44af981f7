//! Neural-network building blocks: the module tree, layers, initialisers and
//! parameter-group recipes.

pub mod ema;
pub mod groups;
pub mod init;
pub mod layers;
pub mod module;

pub use groups::GroupRecipe;
pub use init::{Fan, Init, Initializer};
pub use layers::{Activation, BatchNorm2d, Builder, Conv2d, Dropout, GroupNorm, Linear};
pub use module::{LayerMode, ModeKind, Module, ModuleExt, Param, Role, Visitor};
