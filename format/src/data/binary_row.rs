//! Paimon's BinaryRow encoding. (Stub: filled in by the BinaryRow work.)
