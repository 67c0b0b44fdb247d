//! Errors between Strata and DataFusion: Strata errors travel through DataFusion as
//! external errors and come back out with their kind.

use datafusion::error::DataFusionError;
use strata_format::{Error, ErrorKind};

/// A Strata error as a DataFusion error (kept whole, so its kind survives the trip).
pub fn to_df(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// A DataFusion error as a Strata error: a wrapped Strata error comes back as it was;
/// planning and SQL errors are the user's input (DataInvalid); the rest is Internal.
pub fn from_df(e: DataFusionError) -> Error {
    let e = e.find_root().clone_or_describe();
    match e {
        Described::Strata(e) => e,
        Described::Input(m) => Error::data_invalid(m),
        Described::Unsupported(m) => Error::unsupported(m),
        Described::Other(m) => Error::new(ErrorKind::Internal, m),
    }
}

enum Described {
    Strata(Error),
    Input(String),
    Unsupported(String),
    Other(String),
}

trait Describe {
    fn clone_or_describe(&self) -> Described;
}

impl Describe for DataFusionError {
    fn clone_or_describe(&self) -> Described {
        match self {
            DataFusionError::External(inner) => match inner.downcast_ref::<Error>() {
                Some(e) => Described::Strata(Error::new(e.kind(), e.message().to_string())),
                None => Described::Other(inner.to_string()),
            },
            DataFusionError::SQL(e, _) => Described::Input(format!("SQL: {e}")),
            DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::Execution(_) => Described::Input(self.to_string()),
            DataFusionError::NotImplemented(m) => Described::Unsupported(m.clone()),
            DataFusionError::ArrowError(e, _) => Described::Input(format!("{e}")),
            other => Described::Other(other.to_string()),
        }
    }
}
