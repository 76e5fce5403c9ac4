//! Attribute and log values: `KeyValue` and `AnyValue` (arrays, lists and maps included),
//! measured exactly before they are written, so that their lengths are never moved.

use std::collections::HashMap;

use opentelemetry::logs::AnyValue as LogValue;
use opentelemetry::{Array, Key, Value};
use prost::encoding::{WireType, encoded_len_varint};

use super::wire::{delimited_len, put_key, put_len_key, put_str, put_varint, str_field_len};

const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_VALUE_STRING: u32 = 1;
const ANY_VALUE_BOOL: u32 = 2;
const ANY_VALUE_INT: u32 = 3;
const ANY_VALUE_DOUBLE: u32 = 4;
const ANY_VALUE_ARRAY: u32 = 5;
const ANY_VALUE_KVLIST: u32 = 6;
const ANY_VALUE_BYTES: u32 = 7;
const ARRAY_VALUE_VALUES: u32 = 1;
const KEY_VALUE_LIST_VALUES: u32 = 1;

/// A value written as an `AnyValue`: an attribute's `Value` (spans, resources, scopes) or the
/// logs API's `AnyValue` (log bodies and attributes, which nest lists and maps).
pub(super) trait EncodeValue {
    /// The `AnyValue`'s encoded length, without its own key and length.
    fn any_value_len(&self) -> usize;
    /// The `AnyValue`'s body: its one `value` field.
    fn put_any_value(&self, buf: &mut Vec<u8>);
}

/// A `KeyValue` (its value always present), measured before it is written.
pub(super) fn put_key_value<V: EncodeValue>(buf: &mut Vec<u8>, tag: u32, key: &str, value: &V) {
    let value_len = value.any_value_len();
    let len = key_value_len(key, value_len);
    buf.reserve(1 + delimited_len(len));
    put_len_key(buf, tag, len);
    put_str(buf, KEY_VALUE_KEY, key);
    put_len_key(buf, KEY_VALUE_VALUE, value_len);
    value.put_any_value(buf);
}

/// An `AnyValue` field (a log record's body, an array's element), measured before it is written.
pub(super) fn put_any_value_field<V: EncodeValue>(buf: &mut Vec<u8>, tag: u32, value: &V) {
    put_len_key(buf, tag, value.any_value_len());
    value.put_any_value(buf);
}

fn key_value_len(key: &str, value_len: usize) -> usize {
    str_field_len(key) + 1 + delimited_len(value_len)
}

impl EncodeValue for Value {
    fn any_value_len(&self) -> usize {
        match self {
            Value::Bool(v) => bool_value_len(*v),
            Value::I64(v) => int_value_len(*v),
            Value::F64(_) => DOUBLE_VALUE_LEN,
            Value::String(v) => string_value_len(v.as_str()),
            Value::Array(array) => 1 + delimited_len(array_len(array)),
            _ => 0,
        }
    }

    fn put_any_value(&self, buf: &mut Vec<u8>) {
        match self {
            Value::Bool(v) => put_bool_value(buf, *v),
            Value::I64(v) => put_int_value(buf, *v),
            Value::F64(v) => put_double_value(buf, *v),
            Value::String(v) => put_string_value(buf, v.as_str()),
            Value::Array(array) => put_array(buf, array),
            // Value types newer than this encoder: an empty value (the transform panics).
            _ => {}
        }
    }
}

impl EncodeValue for LogValue {
    fn any_value_len(&self) -> usize {
        match self {
            LogValue::Boolean(v) => bool_value_len(*v),
            LogValue::Int(v) => int_value_len(*v),
            LogValue::Double(_) => DOUBLE_VALUE_LEN,
            LogValue::String(v) => string_value_len(v.as_str()),
            LogValue::Bytes(v) => 1 + delimited_len(v.len()),
            LogValue::ListAny(vs) => 1 + delimited_len(list_len(vs)),
            LogValue::Map(map) => 1 + delimited_len(map_len(map)),
            _ => 0,
        }
    }

    fn put_any_value(&self, buf: &mut Vec<u8>) {
        match self {
            LogValue::Boolean(v) => put_bool_value(buf, *v),
            LogValue::Int(v) => put_int_value(buf, *v),
            LogValue::Double(v) => put_double_value(buf, *v),
            LogValue::String(v) => put_string_value(buf, v.as_str()),
            // A oneof's bytes are written even when empty.
            LogValue::Bytes(v) => {
                put_len_key(buf, ANY_VALUE_BYTES, v.len());
                buf.extend_from_slice(v);
            }
            LogValue::ListAny(vs) => {
                put_len_key(buf, ANY_VALUE_ARRAY, list_len(vs));
                for v in vs.iter() {
                    put_any_value_field(buf, ARRAY_VALUE_VALUES, v);
                }
            }
            // In the map's iteration order, which its clone (what the transform consumes)
            // keeps.
            LogValue::Map(map) => {
                put_len_key(buf, ANY_VALUE_KVLIST, map_len(map));
                for (key, v) in map.iter() {
                    put_key_value(buf, KEY_VALUE_LIST_VALUES, key.as_str(), v);
                }
            }
            // Value types newer than this encoder: an empty value (the transform panics).
            _ => {}
        }
    }
}

/// An `ArrayValue` of log values: its encoded length, without its own key and length.
fn list_len(values: &[LogValue]) -> usize {
    values
        .iter()
        .map(|v| 1 + delimited_len(v.any_value_len()))
        .sum()
}

/// A `KeyValueList`'s encoded length, without its own key and length.
fn map_len(map: &HashMap<Key, LogValue>) -> usize {
    map.iter()
        .map(|(key, v)| 1 + delimited_len(key_value_len(key.as_str(), v.any_value_len())))
        .sum()
}

/// An attribute array as an `AnyValue`'s `ArrayValue`.
fn put_array(buf: &mut Vec<u8>, array: &Array) {
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
