//! Attribute values: `KeyValue` and `AnyValue` (arrays included), measured exactly before
//! they are written, so that their lengths are never moved.

use opentelemetry::{Array, Value};
use prost::encoding::{WireType, encoded_len_varint};

use super::wire::{delimited_len, put_key, put_len_key, put_str, put_varint, str_field_len};

const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_VALUE_STRING: u32 = 1;
const ANY_VALUE_BOOL: u32 = 2;
const ANY_VALUE_INT: u32 = 3;
const ANY_VALUE_DOUBLE: u32 = 4;
const ANY_VALUE_ARRAY: u32 = 5;
const ARRAY_VALUE_VALUES: u32 = 1;

/// A `KeyValue` (its value always present), measured before it is written.
pub(super) fn put_key_value(buf: &mut Vec<u8>, tag: u32, key: &str, value: &Value) {
    let value_len = any_value_len(value);
    let len = str_field_len(key) + 1 + delimited_len(value_len);
    buf.reserve(1 + delimited_len(len));
    put_len_key(buf, tag, len);
    put_str(buf, KEY_VALUE_KEY, key);
    put_len_key(buf, KEY_VALUE_VALUE, value_len);
    match value {
        Value::Bool(v) => put_bool_value(buf, *v),
        Value::I64(v) => put_int_value(buf, *v),
        Value::F64(v) => put_double_value(buf, *v),
        Value::String(v) => put_string_value(buf, v.as_str()),
        Value::Array(array) => {
            put_len_key(buf, ANY_VALUE_ARRAY, array_len(array));
            match array {
                Array::Bool(vs) => put_elements(
                    buf,
                    vs,
                    |v| bool_value_len(*v),
                    |buf, v| {
                        put_bool_value(buf, *v);
                    },
                ),
                Array::I64(vs) => put_elements(
                    buf,
                    vs,
                    |v| int_value_len(*v),
                    |buf, v| {
                        put_int_value(buf, *v);
                    },
                ),
                Array::F64(vs) => put_elements(
                    buf,
                    vs,
                    |_| DOUBLE_VALUE_LEN,
                    |buf, v| {
                        put_double_value(buf, *v);
                    },
                ),
                Array::String(vs) => put_elements(
                    buf,
                    vs,
                    |v| string_value_len(v.as_str()),
                    |buf, v| put_string_value(buf, v.as_str()),
                ),
                // Array types newer than this encoder: an empty array (the transform panics).
                _ => {}
            }
        }
        // Value types newer than this encoder: an empty value (the transform panics).
        _ => {}
    }
}

/// An `ArrayValue`'s elements: one `AnyValue` each.
fn put_elements<T>(
    buf: &mut Vec<u8>,
    values: &[T],
    len: impl Fn(&T) -> usize,
    put: impl Fn(&mut Vec<u8>, &T),
) {
    for v in values {
        put_len_key(buf, ARRAY_VALUE_VALUES, len(v));
        put(buf, v);
    }
}

const DOUBLE_VALUE_LEN: usize = 9;

/// An `AnyValue`'s encoded length, without its own key and length.
fn any_value_len(value: &Value) -> usize {
    match value {
        Value::Bool(v) => bool_value_len(*v),
        Value::I64(v) => int_value_len(*v),
        Value::F64(_) => DOUBLE_VALUE_LEN,
        Value::String(v) => string_value_len(v.as_str()),
        Value::Array(array) => 1 + delimited_len(array_len(array)),
        _ => 0,
    }
}

/// An `ArrayValue`'s encoded length, without its own key and length.
fn array_len(array: &Array) -> usize {
    fn sum<T>(values: &[T], len: impl Fn(&T) -> usize) -> usize {
        values.iter().map(|v| 1 + delimited_len(len(v))).sum()
    }
    match array {
        Array::Bool(vs) => sum(vs, |v| bool_value_len(*v)),
        Array::I64(vs) => sum(vs, |v| int_value_len(*v)),
        Array::F64(vs) => sum(vs, |_| DOUBLE_VALUE_LEN),
        Array::String(vs) => sum(vs, |v| string_value_len(v.as_str())),
        _ => 0,
    }
}

fn bool_value_len(_: bool) -> usize {
    2
}

fn int_value_len(v: i64) -> usize {
    1 + encoded_len_varint(v as u64)
}

fn string_value_len(v: &str) -> usize {
    1 + delimited_len(v.len())
}

// A oneof's value is written even when it is the default.
fn put_bool_value(buf: &mut Vec<u8>, v: bool) {
    put_key(buf, ANY_VALUE_BOOL, WireType::Varint);
    buf.push(u8::from(v));
}

fn put_int_value(buf: &mut Vec<u8>, v: i64) {
    put_key(buf, ANY_VALUE_INT, WireType::Varint);
    put_varint(buf, v as u64);
}

fn put_double_value(buf: &mut Vec<u8>, v: f64) {
    put_key(buf, ANY_VALUE_DOUBLE, WireType::SixtyFourBit);
    buf.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_string_value(buf: &mut Vec<u8>, v: &str) {
    put_len_key(buf, ANY_VALUE_STRING, v.len());
    buf.extend_from_slice(v.as_bytes());
}
