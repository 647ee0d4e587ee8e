//! The one error type of the core. `Copy`, no strings: each variant names what was wrong.

pub use crate::model::error::ModelError;

/// Every fallible public function of the core returns this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A model blob, container or checkpoint was rejected, or a model could not run.
    Model(ModelError),
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        Error::Model(e)
    }
}
