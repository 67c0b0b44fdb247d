//! Property tests: hostile bytes never make the readers panic, only return errors.

use std::sync::LazyLock;

use proptest::prelude::*;

use super::test_util::*;
use super::*;
use crate::error::ErrorKind;

type Reader = fn(&[u8]) -> crate::Result<()>;

const READERS: [Reader; 3] = [
    |b| read_manifest_entries(b).map(drop),
    |b| read_manifest_list(b).map(drop),
    |b| read_index_manifest(b).map(drop),
];

/// Valid files of every kind and codec, plus the pypaimon fixtures.
static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut seeds = Vec::new();
    for codec in [
        ManifestCompression::Null,
        ManifestCompression::Zstd,
        ManifestCompression::Snappy,
        ManifestCompression::Deflate,
    ] {
        seeds.push(write_manifest_entries(&sample_entries(), codec).unwrap());
        seeds.push(write_manifest_list(&sample_metas(), codec).unwrap());
        seeds.push(write_index_manifest(&sample_index_entries(), codec).unwrap());
    }
    seeds.push(fixture(
        "pk/manifest-a2e99233-374b-49fd-928a-a7560d4e86de-0",
    ));
    seeds.push(fixture(
        "pk/manifest-list-294057ec-0291-461f-a5a1-02e4eba83141-0",
    ));
    seeds.push(fixture(
        "dv/index-manifest-d3b27d2f-1127-4e8f-a124-fc5c9109fb50",
    ));
    seeds
});

fn check_all(bytes: &[u8]) {
    for read in READERS {
        if let Err(e) = read(bytes) {
            assert!(
                matches!(e.kind(), ErrorKind::DataInvalid | ErrorKind::Unsupported),
                "unexpected error kind: {e:?}"
            );
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        4 => (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, 1 << bit)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let at = |i: usize, len: usize| i % len;
    match m {
        Mutation::Set(i, b) => {
            let i = at(*i, bytes.len());
            bytes[i] = *b;
        }
        Mutation::Flip(i, mask) => {
            let i = at(*i, bytes.len());
            bytes[i] ^= mask;
        }
        Mutation::Insert(i, b) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let i = at(*i, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Truncate(i) => bytes.truncate(at(*i, bytes.len() + 1)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_all(&bytes);
        let mut with_magic = b"Obj\x01".to_vec();
        with_magic.extend(&bytes);
        check_all(&with_magic);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = SEEDS[seed.index(SEEDS.len())].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_all(&bytes);
    }

    /// Mutations confined to the data blocks of uncompressed files reach the datum decoder
    /// rather than the header parser or a decompressor.
    #[test]
    fn mutated_uncompressed_blocks_never_panic(
        kind in 0usize..3,
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = SEEDS[kind].clone();
        let header_end = header_len(&bytes);
        for (i, b) in &mutations {
            let i = header_end + i.index(bytes.len() - header_end);
            bytes[i] = *b;
        }
        check_all(&bytes);
    }
}

/// Offset of the first data block: just past the first occurrence of the sync marker, which
/// is the file's last 16 bytes.
fn header_len(bytes: &[u8]) -> usize {
    let sync = &bytes[bytes.len() - 16..];
    bytes.windows(16).position(|w| w == sync).unwrap() + 16
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error() {
    for seed in SEEDS.iter() {
        // Cut right after the header, a file is valid and empty (all seeds have one block).
        let empty_at = header_len(seed);
        for cut in 0..seed.len() {
            for read in READERS {
                match read(&seed[..cut]) {
                    Ok(()) => assert_eq!(cut, empty_at),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::DataInvalid, "{e}"),
                }
            }
        }
    }
}
