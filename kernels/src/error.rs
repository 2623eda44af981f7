//! The engine's error type: every failure names what went wrong and, for
//! kernels, the operation and the shapes involved.

/// Errors raised by the engine. None of them is a panic: misuse and adapter
/// shortcomings come back as values the caller can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter could be found or a device could not be opened.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// An operation was given operands it cannot accept (shape, dtype, rank).
    #[error("{op}: {msg}")]
    Invalid {
        /// The operation that refused its operands.
        op: &'static str,
        /// What is wrong, with the shapes involved.
        msg: String,
    },
    /// A binding exceeds an adapter limit (binding size, offset alignment, binding count).
    #[error("{op}: adapter limit exceeded: {msg}")]
    Limit {
        /// The operation whose launch would exceed the limit.
        op: &'static str,
        /// Which limit, and by how much.
        msg: String,
    },
    /// The adapter lacks an optional feature the operation needs.
    #[error("{op}: the adapter lacks the {feature} feature ({hint})")]
    MissingFeature {
        /// The operation that needs the feature.
        op: &'static str,
        /// The WebGPU feature name.
        feature: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// Operands live on two different devices.
    #[error("{op}: operands live on different devices")]
    DeviceMismatch {
        /// The operation that was given mixed devices.
        op: &'static str,
    },
    /// A file could not be read or written.
    #[error("{path}: {msg}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        msg: String,
    },
    /// Data (a checkpoint, an image, a config) is malformed or does not fit.
    #[error("{what}: {msg}")]
    Format {
        /// What was being read.
        what: String,
        /// What is wrong with it.
        msg: String,
    },
    /// Reading a buffer back to the host failed.
    #[error("readback failed: {0}")]
    Readback(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid {
            op,
            msg: msg.into(),
        }
    }
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        Error::Io {
            path: path.to_string(),
            msg: e.to_string(),
        }
    }

    /// Shorthand for [`Error::Format`].
    pub fn format(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Format {
            what: what.into(),
            msg: msg.into(),
        }
    }
}

/// Result alias used throughout the engine.
pub type Result<T> = std::result::Result<T, Error>;
