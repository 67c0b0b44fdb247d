//! The mapping from Paimon types to Arrow. (Stub: filled in by the types work.)
