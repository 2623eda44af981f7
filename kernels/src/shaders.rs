//! The WGSL sources, embedded at compile time. Each kernel family lives in
//! one file under `shaders/`; the engine prepends `prelude.wgsl` (the launch
//! parameter block and the folded-grid index) to each, and `enable f16;` to
//! the f16 family.

/// A kernel family: one WGSL file, compiled once per device into a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    /// Unary, broadcasting binary and select maps; in-place accumulation.
    Elementwise,
    /// Strided copies, fills, gather and scatter-add.
    Layout,
    /// Axis reductions, arg-reductions and softmax.
    Reduce,
    /// Batched matrix multiply.
    Matmul,
    /// Batched matrix multiply for CPU adapters with 8-wide subgroups (needs
    /// the subgroup feature).
    MatmulSubgroup,
    /// Convolution forward, backward-data and backward-weight.
    Conv,
    /// Convolution forward, backward-data and backward-weight for CPU
    /// adapters with 8-wide subgroups (needs the subgroup feature).
    ConvSubgroup,
    /// Average, max and adaptive pooling.
    Pool,
    /// Bilinear and nearest resizing.
    Resize,
    /// Batch normalisation.
    Norm,
    /// Cross-entropy with ignore index.
    Loss,
    /// SGD and AdamW steps.
    Optim,
    /// Seeded random masks.
    Random,
    /// The f16 forward pass (needs shader-f16).
    Half,
    /// Barrier-free exclusive prefix sums of u32 arrays.
    Scan,
    /// The permutohedral lattice: build, splat, blur, slice (dense CRF).
    Lattice,
    /// Class activation maps and their per-class normalisation.
    Cam,
    /// Pixel-pair affinities (AffinityNet) and random-walk propagation.
    Affinity,
    /// Top-k selection along rows (radix select) and its backward.
    Select,
    /// k-means: nearest-centroid assignment and centroid update.
    Cluster,
    /// Click maps of interactive segmentation: distance and Gaussian.
    Clicks,
    /// SLIC superpixels: grid initialisation, local assignment, update.
    Superpixel,
}

macro_rules! with_prelude {
    ($file:literal) => {
        concat!(
            include_str!("../../shaders/prelude.wgsl"),
            "\n",
            include_str!(concat!("../../shaders/", $file))
        )
    };
}

/// The prelude, then `subgroup_tile.wgsl` (the 16×8-per-lane register tile
/// the subgroup families share), then the family's file.
macro_rules! with_subgroup_tile {
    ($file:literal) => {
        concat!(
            include_str!("../../shaders/prelude.wgsl"),
            "\n",
            include_str!("../../shaders/subgroup_tile.wgsl"),
            "\n",
            include_str!(concat!("../../shaders/", $file))
        )
    };
}

/// The directive an f16 family needs ahead of everything else in its module.
const ENABLE_F16: &str = "enable f16;\n";

impl Shader {
    /// Every kernel family, for validation and warm-up.
    pub const ALL: [Shader; 22] = [
        Shader::Elementwise,
        Shader::Layout,
        Shader::Reduce,
        Shader::Matmul,
        Shader::MatmulSubgroup,
        Shader::Conv,
        Shader::ConvSubgroup,
        Shader::Pool,
        Shader::Resize,
        Shader::Norm,
        Shader::Loss,
        Shader::Optim,
        Shader::Random,
        Shader::Half,
        Shader::Scan,
        Shader::Lattice,
        Shader::Cam,
        Shader::Affinity,
        Shader::Select,
        Shader::Cluster,
        Shader::Clicks,
        Shader::Superpixel,
    ];

    /// The file name under `shaders/`.
    pub fn file(self) -> &'static str {
        match self {
            Shader::Elementwise => "elementwise.wgsl",
            Shader::Layout => "layout.wgsl",
            Shader::Reduce => "reduce.wgsl",
            Shader::Matmul => "matmul.wgsl",
            Shader::MatmulSubgroup => "matmul_subgroup.wgsl",
            Shader::Conv => "conv.wgsl",
            Shader::ConvSubgroup => "conv_subgroup.wgsl",
            Shader::Pool => "pool.wgsl",
            Shader::Resize => "resize.wgsl",
            Shader::Norm => "norm.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::Optim => "optim.wgsl",
            Shader::Random => "random.wgsl",
            Shader::Half => "half.wgsl",
            Shader::Scan => "scan.wgsl",
            Shader::Lattice => "lattice.wgsl",
            Shader::Cam => "cam.wgsl",
            Shader::Affinity => "affinity.wgsl",
            Shader::Select => "select.wgsl",
            Shader::Cluster => "cluster.wgsl",
            Shader::Clicks => "clicks.wgsl",
            Shader::Superpixel => "superpixel.wgsl",
        }
    }

    /// The full source the engine compiles: the prelude followed by the
    /// family's file, behind `enable f16;` for the f16 family.
    pub fn source(self) -> &'static str {
        match self {
            Shader::Elementwise => with_prelude!("elementwise.wgsl"),
            Shader::Layout => with_prelude!("layout.wgsl"),
            Shader::Reduce => with_prelude!("reduce.wgsl"),
            Shader::Matmul => with_prelude!("matmul.wgsl"),
            Shader::MatmulSubgroup => with_subgroup_tile!("matmul_subgroup.wgsl"),
            Shader::Conv => concat!(
                include_str!("../../shaders/prelude.wgsl"),
                "\n",
                include_str!("../../shaders/conv_common.wgsl"),
                "\n",
                include_str!("../../shaders/conv.wgsl")
            ),
            Shader::ConvSubgroup => concat!(
                include_str!("../../shaders/prelude.wgsl"),
                "\n",
                include_str!("../../shaders/subgroup_tile.wgsl"),
                "\n",
                include_str!("../../shaders/conv_common.wgsl"),
                "\n",
                include_str!("../../shaders/conv_subgroup.wgsl")
            ),
            Shader::Pool => with_prelude!("pool.wgsl"),
            Shader::Resize => with_prelude!("resize.wgsl"),
            Shader::Norm => with_prelude!("norm.wgsl"),
            Shader::Loss => with_prelude!("loss.wgsl"),
            Shader::Optim => with_prelude!("optim.wgsl"),
            Shader::Random => with_prelude!("random.wgsl"),
            Shader::Scan => with_prelude!("scan.wgsl"),
            Shader::Lattice => with_prelude!("lattice.wgsl"),
            Shader::Cam => with_prelude!("cam.wgsl"),
            Shader::Affinity => with_prelude!("affinity.wgsl"),
            Shader::Select => with_prelude!("select.wgsl"),
            Shader::Cluster => with_prelude!("cluster.wgsl"),
            Shader::Clicks => with_prelude!("clicks.wgsl"),
            Shader::Superpixel => with_prelude!("superpixel.wgsl"),
            Shader::Half => concat!(
                "enable f16;\n",
                include_str!("../../shaders/prelude.wgsl"),
                "\n",
                include_str!("../../shaders/half.wgsl")
            ),
        }
    }

    /// Whether the family needs the adapter's shader-f16 feature.
    pub fn needs_f16(self) -> bool {
        self.source().starts_with(ENABLE_F16)
    }

    /// Whether the family uses subgroup operations written for 8 lanes, so the
    /// device needs the subgroup feature at a fixed width of 8.
    pub fn needs_subgroup8(self) -> bool {
        matches!(self, Shader::MatmulSubgroup | Shader::ConvSubgroup)
    }

    /// Whether the family declares the `OP` override constant.
    pub fn has_op(self) -> bool {
        matches!(self, Shader::Elementwise | Shader::Reduce | Shader::Resize)
    }
}

/// The prelude alone, as shipped in `shaders/prelude.wgsl`.
pub const PRELUDE: &str = include_str!("../../shaders/prelude.wgsl");

/// The subgroup families' shared register tile, `shaders/subgroup_tile.wgsl`.
pub const SUBGROUP_TILE: &str = include_str!("../../shaders/subgroup_tile.wgsl");

/// What the two convolution families share, `shaders/conv_common.wgsl`
/// (validated after the prelude, which it calls).
pub const CONV_COMMON: &str = include_str!("../../shaders/conv_common.wgsl");
