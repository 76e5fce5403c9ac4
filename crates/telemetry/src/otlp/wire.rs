//! Protobuf wire primitives on `prost::encoding`, written as prost writes fields: keys,
//! varints, scalar fields skipped when zero or empty, length-prefixed messages.

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

/// Writes field `tag` as a message whose body `body` writes, `reserve` bytes set aside for
/// its length; the body moves only if its length needs another number of bytes.
#[inline]
pub(super) fn nested(buf: &mut Vec<u8>, tag: u32, reserve: usize, body: impl FnOnce(&mut Vec<u8>)) {
    put_key(buf, tag, WireType::LengthDelimited);
    let at = buf.len();
    buf.resize(at + reserve, 0);
    body(buf);
    let len = buf.len() - at - reserve;
    let width = encoded_len_varint(len as u64);
    if width > reserve {
        buf.resize(buf.len() + width - reserve, 0);
    }
    if width != reserve {
        buf.copy_within(at + reserve..at + reserve + len, at + width);
        buf.truncate(at + width + len);
    }
    encode_varint(len as u64, &mut &mut buf[at..at + width]);
}

/// Length of a length-delimited value of `len` bytes, its length prefix included.
pub(super) fn delimited_len(len: usize) -> usize {
    encoded_len_varint(len as u64) + len
}

/// Length of a string field of one-byte key as prost writes it (nothing when empty).
pub(super) fn str_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + delimited_len(s.len())
    }
}

pub(super) fn put_len_key(buf: &mut Vec<u8>, tag: u32, len: usize) {
    put_key(buf, tag, WireType::LengthDelimited);
    put_varint(buf, len as u64);
}

/// `encode_key`, with the one-byte keys of fields 1 to 15 written directly.
#[inline(always)]
pub(super) fn put_key(buf: &mut Vec<u8>, tag: u32, wire_type: WireType) {
    if tag < 16 {
        buf.push(((tag << 3) | wire_type as u32) as u8);
    } else {
        encode_key(tag, wire_type, buf);
    }
}

/// `encode_varint`, with one-byte values (most lengths) written directly.
#[inline(always)]
pub(super) fn put_varint(buf: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        buf.push(v as u8);
    } else {
        encode_varint(v, buf);
    }
}

pub(super) fn put_str(buf: &mut Vec<u8>, tag: u32, s: &str) {
    put_bytes(buf, tag, s.as_bytes());
}

pub(super) fn put_bytes(buf: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_len_key(buf, tag, bytes.len());
        buf.extend_from_slice(bytes);
    }
}

pub(super) fn put_uint(buf: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        put_key(buf, tag, WireType::Varint);
        put_varint(buf, v);
    }
}

pub(super) fn put_fixed64(buf: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        put_key(buf, tag, WireType::SixtyFourBit);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

pub(super) fn put_fixed32(buf: &mut Vec<u8>, tag: u32, v: u32) {
    if v != 0 {
        put_key(buf, tag, WireType::ThirtyTwoBit);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}
