//! Reference of `launch::scan`.

/// Exclusive prefix sum with wrapping u32 arithmetic.
pub fn exclusive_scan(x: &[u32]) -> Vec<u32> {
    let mut acc = 0u32;
    x.iter()
        .map(|&v| {
            let o = acc;
            acc = acc.wrapping_add(v);
            o
        })
        .collect()
}
