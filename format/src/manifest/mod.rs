//! Avro manifest files: the manifest list, data/changelog manifests and the index manifest.
//! (Stub: filled in by the manifest work.)
