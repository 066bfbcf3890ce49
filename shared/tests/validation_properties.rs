//! The input rules over the whole range of each integer, not a few chosen
//! values: every bound is checked against the same rule computed in `i128`,
//! where nothing can wrap.

use proptest::prelude::*;
use shared::{
    AdjustKind, AdjustRequest, FieldError,
    limits::{MAX_LEVEL, MAX_QUANTITY},
    validate,
};

fn adjust(delta: i64) -> Vec<FieldError> {
    let req = AdjustRequest {
        sku: "A".into(),
        delta,
        kind: AdjustKind::Guarded,
        expected_version: None,
        reason: None,
    };
    let mut errors = Vec::new();
    validate::adjust("", &req, &mut errors);
    errors
}

/// Every i64, with the edges drawn far more often than chance would.
fn any_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        (-3i64..=3).prop_map(|d| MAX_QUANTITY + d),
        (-3i64..=3).prop_map(|d| -MAX_QUANTITY + d),
        (-3i64..=3).prop_map(|d| MAX_LEVEL + d),
        (-3i64..=3).prop_map(|d| -MAX_LEVEL + d),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn a_delta_is_taken_exactly_when_it_is_non_zero_and_within_the_bound(delta in any_i64()) {
        let wide = i128::from(delta);
        let allowed = wide != 0 && wide.abs() <= i128::from(MAX_QUANTITY);
        prop_assert_eq!(adjust(delta).is_empty(), allowed);
    }

    #[test]
    fn a_level_never_leaves_its_bound_and_never_wraps(available in any_i64(), delta in any_i64()) {
        let wide = i128::from(available) + i128::from(delta);
        let expected = (wide.abs() <= i128::from(MAX_LEVEL)).then_some(wide as i64);
        prop_assert_eq!(validate::level_after(available, delta), expected);
    }

    #[test]
    fn a_count_or_price_is_taken_exactly_within_zero_to_the_bound(value in any_i64()) {
        let allowed = (0..=i128::from(MAX_QUANTITY)).contains(&i128::from(value));
        let mut errors = Vec::new();
        validate::set_stock(value, None, &mut errors);
        prop_assert_eq!(errors.is_empty(), allowed);
        let mut errors = Vec::new();
        validate::price("price_cents", value, &mut errors);
        prop_assert_eq!(errors.is_empty(), allowed);
    }
}
