//! Paimon's default bucket function. (Stub: filled in by the BinaryRow work.)
