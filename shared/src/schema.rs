//! The OpenAPI schemas of the input rules in [`crate::validate`], built
//! from the same constants, so the document and the checks cannot drift
//! apart: a field's `schema_with` points here. Patterns use only what
//! ECMA-262 and Python's `re` read alike (character classes and `\x`/`\u`
//! escapes, no `\s` or `\w`), so a fuzzer generates exactly what the
//! server takes.

use utoipa::openapi::{
    ArrayBuilder, KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type,
    schema::{AnyOfBuilder, SchemaType},
};

use crate::limits::{
    MAX_ID_LEN, MAX_KEY_LEN, MAX_NAME_LEN, MAX_QUANTITY, MAX_REASON_LEN, MAX_SECRET_LEN,
    MIN_SECRET_LEN,
};

/// Skus and store ids: at least one character that is not a dot (no
/// lookaround, which not every JSON Schema engine has).
pub const ID_PATTERN: &str = "^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$";
/// Idempotency keys and secrets: visible ASCII.
pub const VISIBLE_ASCII_PATTERN: &str = "^[!-~]+$";
/// No control character (C0, DEL, C1).
pub const NO_CONTROL_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";
/// No control character, and at least one that is not white space
/// (Unicode's `White_Space`, listed: Rust's `char::is_whitespace`).
pub const NAME_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$";

fn string(min: usize, max: usize, pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
}

fn integer(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min as isize))
        .maximum(Some(max as isize))
}

/// A sku or store id: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn identifier() -> Schema {
    string(1, MAX_ID_LEN, ID_PATTERN).build().into()
}

/// A currency: an ISO 4217 code.
pub fn currency() -> Schema {
    string(3, 3, "^[A-Z]{3}$").examples(["EUR"]).build().into()
}

/// An idempotency key: 1–128 visible ASCII characters.
pub fn idempotency_key() -> Schema {
    string(1, MAX_KEY_LEN, VISIBLE_ASCII_PATTERN)
        .examples(["0b6f3c1e-8a9d-4f5e-9b1a-2c3d4e5f6a7b"])
        .build()
        .into()
}

/// A client secret someone chooses: 16–256 visible ASCII characters.
pub fn client_secret() -> Schema {
    string(MIN_SECRET_LEN, MAX_SECRET_LEN, VISIBLE_ASCII_PATTERN)
        .build()
        .into()
}

/// An admin API key: 32–256 visible ASCII characters.
pub fn api_key() -> Schema {
    string(32, MAX_SECRET_LEN, VISIBLE_ASCII_PATTERN)
        .build()
        .into()
}

/// [`client_secret`], or absent (central makes one).
pub fn optional_client_secret() -> Schema {
    nullable(string(
        MIN_SECRET_LEN,
        MAX_SECRET_LEN,
        VISIBLE_ASCII_PATTERN,
    ))
}

/// A product's or store's name: 1–200 characters, not blank, no control
/// characters.
pub fn name() -> Schema {
    string(1, MAX_NAME_LEN, NAME_PATTERN).build().into()
}

/// [`name`], or absent (left as it is).
pub fn optional_name() -> Schema {
    nullable(string(1, MAX_NAME_LEN, NAME_PATTERN))
}

/// A reason: up to 200 characters, no control characters, or absent.
pub fn reason() -> Schema {
    nullable(string(0, MAX_REASON_LEN, NO_CONTROL_PATTERN))
}

/// A non-zero change within ±[`MAX_QUANTITY`].
pub fn delta() -> Schema {
    AnyOfBuilder::new()
        .item(integer(-MAX_QUANTITY, -1))
        .item(integer(1, MAX_QUANTITY))
        .description(Some(format!(
            "Non-zero, within ±{MAX_QUANTITY}: negative for a sale, positive for a restock"
        )))
        .build()
        .into()
}

/// A count or a price: 0 to [`MAX_QUANTITY`].
pub fn quantity() -> Schema {
    integer(0, MAX_QUANTITY).build().into()
}

/// [`quantity`], or absent.
pub fn optional_quantity() -> Schema {
    nullable(integer(0, MAX_QUANTITY))
}

/// A version or offset: 0 up to [`crate::limits::MAX_OFFSET`].
pub fn unsigned() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0usize))
        .maximum(Some(crate::limits::MAX_OFFSET as usize))
}

/// An expected version, or absent.
pub fn optional_version() -> Schema {
    nullable(unsigned())
}

/// An offset: 0 up to [`crate::limits::MAX_OFFSET`].
pub fn offset() -> Schema {
    unsigned().build().into()
}

/// The lines of a batch: at least one (the most is central's
/// `--max-batch-items`, set in the served document).
pub fn batch_items() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "BatchItem",
        )))
        .min_items(Some(1))
        .build()
        .into()
}

/// A quantity to hold: 1 to [`MAX_QUANTITY`].
pub fn positive_quantity() -> Schema {
    integer(1, MAX_QUANTITY).build().into()
}

/// [`identifier`], or absent.
pub fn optional_identifier() -> Schema {
    nullable(string(1, MAX_ID_LEN, ID_PATTERN))
}

/// A channel's reference for a hold (its order id): visible ASCII.
pub fn reference() -> Schema {
    string(1, crate::limits::MAX_REFERENCE_LEN, VISIBLE_ASCII_PATTERN)
        .examples(["order-10023"])
        .build()
        .into()
}

/// A hold's time to live in seconds, or absent (central's default).
pub fn optional_ttl() -> Schema {
    nullable(integer(1, i64::from(crate::limits::MAX_HOLD_TTL_SECONDS)))
}

/// A share in percent: 1 to 100.
pub fn percent() -> Schema {
    integer(1, 100).build().into()
}

/// A hold's whole life in seconds: 1 to [`crate::limits::MAX_HOLD_LIFE_SECONDS`].
pub fn hold_life() -> Schema {
    integer(1, i64::from(crate::limits::MAX_HOLD_LIFE_SECONDS))
        .build()
        .into()
}

fn array_of(name: &str, min: usize, max: usize) -> Schema {
    ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name)))
        .min_items(Some(min))
        .max_items(Some(max))
        .build()
        .into()
}

fn identifiers(min: usize, max: usize) -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(identifier()))
        .min_items(Some(min))
        .max_items(Some(max))
        .build()
        .into()
}

/// A hold's lines: 1 to [`crate::limits::MAX_HOLD_LINES`].
pub fn hold_lines() -> Schema {
    array_of("HoldLineRequest", 1, crate::limits::MAX_HOLD_LINES)
}

/// The lines a commit names, or absent (all of them, whole).
pub fn commit_lines() -> Schema {
    let lines = ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "CommitLine",
        )))
        .min_items(Some(1))
        .max_items(Some(crate::limits::MAX_HOLD_LINES))
        .build();
    let mut lines = lines;
    lines.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
    lines.into()
}

/// A priority list of stores: 1 to [`crate::limits::MAX_PRIORITY_STORES`].
pub fn priority_stores() -> Schema {
    identifiers(1, crate::limits::MAX_PRIORITY_STORES)
}

/// The skus of one availability question: 1 to
/// [`crate::limits::MAX_AVAILABILITY_SKUS`].
pub fn availability_skus() -> Schema {
    identifiers(1, crate::limits::MAX_AVAILABILITY_SKUS)
}

fn nullable(object: ObjectBuilder) -> Schema {
    let built = object.build();
    let types = match built.schema_type.clone() {
        SchemaType::Type(t) => SchemaType::from_iter([t, Type::Null]),
        other => other,
    };
    let mut built = built;
    built.schema_type = types;
    built.into()
}

/// The schema of an offset parameter (`value_type = Offset`): a `u64`.
pub struct Offset;

impl utoipa::PartialSchema for Offset {
    fn schema() -> RefOr<Schema> {
        offset().into()
    }
}

impl utoipa::ToSchema for Offset {}
