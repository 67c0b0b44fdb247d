//! The on-disk lookup file: one data file's keys, sorted, in blocks of about 4 KiB, with a
//! sparse index (first key and extent of every block) in the footer.
//!
//! ```text
//! "STRLKUP1" | u32 identity length | identity (UTF-8)
//! block*     : record* where record = varint key length, key, varint position,
//!              i64 sequence (LE), u8 row kind, [varint value length, value]
//! index      : per block: varint first-key length, first key, u64 offset, u32 length,
//!              u32 CRC-32 of the block
//! footer     : u64 index offset, u64 index length, u64 records, u32 CRC-32 of the index,
//!              u8 has-values, u32 0x4C4B5550
//! ```
//!
//! Keys are non-decreasing (a key may repeat if the data file repeats it). Only the sparse
//! index is held in memory; a lookup reads one or two blocks with positioned reads, so a
//! file removed from the cache directory while open keeps working through its handle.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::Result;
use crate::invalid;

const MAGIC: &[u8; 8] = b"STRLKUP1";
const FOOTER_MAGIC: u32 = 0x4C4B_5550;
const FOOTER_LEN: usize = 8 + 8 + 8 + 4 + 1 + 4;
/// Records are grouped into blocks of about this many bytes.
pub const BLOCK_BYTES: usize = 4096;

/// What a lookup finds for a key in one data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupEntry {
    /// Row position in the data file (0-based), as deletion vectors count it.
    pub position: u64,
    pub sequence: i64,
    /// `_VALUE_KIND` of the row.
    pub kind: i8,
    /// The row's value columns in the spec's row encoding, when the file stores values.
    pub value: Option<Vec<u8>>,
}

/// Writes a lookup file; keys must come in non-decreasing order.
pub(crate) struct FileBuilder {
    out: BufWriter<File>,
    has_values: bool,
    offset: u64,
    block: Vec<u8>,
    block_first_key: Option<Vec<u8>>,
    index: Vec<(Vec<u8>, u64, u32, u32)>,
    last_key: Option<Vec<u8>>,
    records: u64,
}

/// A key arrived below the previous one.
#[derive(Debug)]
pub(crate) struct OutOfOrder;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*at)
            .ok_or_else(|| invalid!("lookup file is truncated"))?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(invalid!("lookup file holds an over-long varint"))
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> Result<&'a [u8]> {
    let end = at
        .checked_add(len)
        .ok_or_else(|| invalid!("lookup file is corrupt"))?;
    let out = bytes
        .get(*at..end)
        .ok_or_else(|| invalid!("lookup file is truncated"))?;
    *at = end;
    Ok(out)
}

fn take_len(bytes: &[u8], at: &mut usize) -> Result<usize> {
    usize::try_from(get_varint(bytes, at)?).map_err(|_| invalid!("lookup file is corrupt"))
}

impl FileBuilder {
    pub(crate) fn create(path: &Path, identity: &str, has_values: bool) -> Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(MAGIC)?;
        let id = identity.as_bytes();
        out.write_all(&(id.len() as u32).to_le_bytes())?;
        out.write_all(id)?;
        Ok(FileBuilder {
            out,
            has_values,
            offset: (MAGIC.len() + 4 + id.len()) as u64,
            block: Vec::with_capacity(BLOCK_BYTES * 2),
            block_first_key: None,
            index: Vec::new(),
            last_key: None,
            records: 0,
        })
    }

    pub(crate) fn add(
        &mut self,
        key: &[u8],
        position: u64,
        sequence: i64,
        kind: i8,
        value: Option<&[u8]>,
    ) -> Result<std::result::Result<(), OutOfOrder>> {
        if self.last_key.as_deref().is_some_and(|last| key < last) {
            return Ok(Err(OutOfOrder));
        }
        if self.block_first_key.is_none() {
            self.block_first_key = Some(key.to_vec());
        }
        put_varint(&mut self.block, key.len() as u64);
        self.block.extend_from_slice(key);
        put_varint(&mut self.block, position);
        self.block.extend_from_slice(&sequence.to_le_bytes());
        self.block.push(kind as u8);
        if self.has_values {
            let v = value.unwrap_or_default();
            put_varint(&mut self.block, v.len() as u64);
            self.block.extend_from_slice(v);
        }
        self.records += 1;
        match &mut self.last_key {
            Some(last) => {
                last.clear();
                last.extend_from_slice(key);
            }
            None => self.last_key = Some(key.to_vec()),
        }
        if self.block.len() >= BLOCK_BYTES {
            self.flush_block()?;
        }
        Ok(Ok(()))
    }

    fn flush_block(&mut self) -> Result<()> {
        let Some(first) = self.block_first_key.take() else {
            return Ok(());
        };
        let len =
            u32::try_from(self.block.len()).map_err(|_| invalid!("a lookup block exceeds 4 GB"))?;
        self.out.write_all(&self.block)?;
        self.index
            .push((first, self.offset, len, crc32fast::hash(&self.block)));
        self.offset += u64::from(len);
        self.block.clear();
        Ok(())
    }

    /// Writes the index and footer; returns the file's size.
    pub(crate) fn finish(mut self) -> Result<u64> {
        self.flush_block()?;
        let mut index = Vec::new();
        for (key, offset, len, crc) in &self.index {
            put_varint(&mut index, key.len() as u64);
            index.extend_from_slice(key);
            index.extend_from_slice(&offset.to_le_bytes());
            index.extend_from_slice(&len.to_le_bytes());
            index.extend_from_slice(&crc.to_le_bytes());
        }
        self.out.write_all(&index)?;
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(&self.offset.to_le_bytes());
        footer.extend_from_slice(&(index.len() as u64).to_le_bytes());
        footer.extend_from_slice(&self.records.to_le_bytes());
        footer.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
        footer.push(u8::from(self.has_values));
        footer.extend_from_slice(&FOOTER_MAGIC.to_le_bytes());
        self.out.write_all(&footer)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| crate::Error::from(e.into_error()))?;
        file.sync_all()?;
        Ok(self.offset + index.len() as u64 + FOOTER_LEN as u64)
    }
}

struct Block {
    first_key: Vec<u8>,
    offset: u64,
    len: u32,
    crc: u32,
}

/// An open lookup file: its sparse index in memory, its records on disk.
pub struct LookupFile {
    file: File,
    blocks: Vec<Block>,
    has_values: bool,
    records: u64,
    disk_bytes: u64,
    memory_bytes: u64,
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

fn read_vec(file: &File, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    read_at(file, &mut buf, offset)
        .map_err(|e| invalid!("cannot read lookup file at {offset}: {e}"))?;
    Ok(buf)
}

impl LookupFile {
    /// Opens a lookup file, checking that it is complete and built for `identity`.
    pub fn open(path: &Path, identity: &str) -> Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        let header_len = (MAGIC.len() + 4 + identity.len()) as u64;
        if size < header_len + FOOTER_LEN as u64 {
            return Err(invalid!("lookup file {} is truncated", path.display()));
        }
        let header = read_vec(&file, 0, header_len as usize)?;
        let mut expected = MAGIC.to_vec();
        expected.extend_from_slice(&(identity.len() as u32).to_le_bytes());
        expected.extend_from_slice(identity.as_bytes());
        if header != expected {
            return Err(invalid!(
                "lookup file {} was built for another data file or layout",
                path.display()
            ));
        }
        let footer = read_vec(&file, size - FOOTER_LEN as u64, FOOTER_LEN)?;
        let u64_at = |i: usize| {
            footer
                .get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .unwrap_or(0)
        };
        let u32_at = |i: usize| {
            footer
                .get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .unwrap_or(0)
        };
        let (index_offset, index_len, records) = (u64_at(0), u64_at(8), u64_at(16));
        let crc = u32_at(24);
        let has_values = footer.get(28).copied() == Some(1);
        if u32_at(29) != FOOTER_MAGIC
            || index_offset < header_len
            || index_offset.checked_add(index_len) != Some(size - FOOTER_LEN as u64)
        {
            return Err(invalid!(
                "lookup file {} has no valid footer",
                path.display()
            ));
        }
        let index = read_vec(&file, index_offset, index_len as usize)?;
        if crc32fast::hash(&index) != crc {
            return Err(invalid!(
                "lookup file {} has a corrupt index",
                path.display()
            ));
        }
        let mut blocks = Vec::new();
        let mut at = 0;
        while at < index.len() {
            let key_len = take_len(&index, &mut at)?;
            let first_key = take(&index, &mut at, key_len)?.to_vec();
            let offset = u64::from_le_bytes(
                take(&index, &mut at, 8)?
                    .try_into()
                    .map_err(|_| invalid!("lookup index is corrupt"))?,
            );
            let len = u32::from_le_bytes(
                take(&index, &mut at, 4)?
                    .try_into()
                    .map_err(|_| invalid!("lookup index is corrupt"))?,
            );
            let crc = u32::from_le_bytes(
                take(&index, &mut at, 4)?
                    .try_into()
                    .map_err(|_| invalid!("lookup index is corrupt"))?,
            );
            if offset < header_len || offset.saturating_add(u64::from(len)) > index_offset {
                return Err(invalid!(
                    "lookup file {} has a block out of range",
                    path.display()
                ));
            }
            blocks.push(Block {
                first_key,
                offset,
                len,
                crc,
            });
        }
        let memory_bytes = blocks
            .iter()
            .map(|b| (b.first_key.len() + std::mem::size_of::<Block>()) as u64)
            .sum::<u64>()
            + std::mem::size_of::<LookupFile>() as u64;
        Ok(LookupFile {
            file,
            blocks,
            has_values,
            records,
            disk_bytes: size,
            memory_bytes,
        })
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    /// Bytes the open file holds in memory (its sparse index).
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    /// Every record of `key`, in file order.
    pub fn get_all(&self, key: &[u8]) -> Result<Vec<LookupEntry>> {
        // The key can start in the last block whose first key is below it.
        let after = self
            .blocks
            .partition_point(|b| b.first_key.as_slice() < key);
        let mut out = Vec::new();
        for block in self.blocks.iter().skip(after.saturating_sub(1)) {
            if block.first_key.as_slice() > key {
                break;
            }
            let bytes = read_vec(&self.file, block.offset, block.len as usize)?;
            if crc32fast::hash(&bytes) != block.crc {
                return Err(invalid!(
                    "lookup file has a corrupt block at {}",
                    block.offset
                ));
            }
            if self.scan_block(&bytes, key, &mut out)? {
                break;
            }
        }
        Ok(out)
    }

    /// The newest record of `key` (highest sequence number; the last one on ties).
    pub fn get(&self, key: &[u8]) -> Result<Option<LookupEntry>> {
        let all = self.get_all(key)?;
        Ok(all.into_iter().max_by_key(|e| e.sequence))
    }

    /// Collects `key`'s records from one block; returns whether a larger key was seen.
    fn scan_block(&self, bytes: &[u8], key: &[u8], out: &mut Vec<LookupEntry>) -> Result<bool> {
        let mut at = 0;
        while at < bytes.len() {
            let key_len = take_len(bytes, &mut at)?;
            let k = take(bytes, &mut at, key_len)?;
            let position = get_varint(bytes, &mut at)?;
            let sequence = i64::from_le_bytes(
                take(bytes, &mut at, 8)?
                    .try_into()
                    .map_err(|_| invalid!("lookup block is corrupt"))?,
            );
            let kind = *take(bytes, &mut at, 1)?
                .first()
                .ok_or_else(|| invalid!("lookup block is corrupt"))? as i8;
            let value = if self.has_values {
                let len = take_len(bytes, &mut at)?;
                Some(take(bytes, &mut at, len)?)
            } else {
                None
            };
            match k.cmp(key) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => out.push(LookupEntry {
                    position,
                    sequence,
                    kind,
                    value: value.map(<[u8]>::to_vec),
                }),
                std::cmp::Ordering::Greater => return Ok(true),
            }
        }
        Ok(false)
    }
}
