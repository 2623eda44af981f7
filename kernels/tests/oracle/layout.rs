//! Copies, strided copies, fills, gathers and scatter-adds.

use super::*;
use weakseg_kernels::cpu;
use weakseg_kernels::launch::layout::{self, Gather, Strided};

#[test]
fn layout_moves() {
    let g = gpu();
    let mut r = rng(4);
    // Permute [2,3,5] -> [5,2,3] and a flipped narrow, written into the middle of a larger buffer.
    let src: Vec<u32> = (0..30).map(|_| r.random()).collect();
    let sb = up_u32(&g, &src);
    for s in [
        Strided {
            shape: vec![5, 2, 3],
            src_offset: 0,
            src_strides: vec![1, 15, 5],
            dst_offset: 0,
            dst_strides: vec![6, 3, 1],
        },
        Strided {
            shape: vec![2, 3, 2],
            src_offset: 4,
            src_strides: vec![15, 5, -1],
            dst_offset: 7,
            dst_strides: vec![6, 2, 1],
        },
        Strided {
            shape: vec![1],
            src_offset: 29,
            src_strides: vec![1],
            dst_offset: 3,
            dst_strides: vec![1],
        },
    ] {
        let init: Vec<u32> = (0..40).map(|i| 0xdead0000 + i).collect();
        let db = up_u32(&g, &init);
        layout::strided_copy(&g, v(&sb, 30), v(&db, 40), &s).unwrap();
        let mut want = init.clone();
        cpu::layout::strided_copy(&src, &mut want, &s);
        assert_eq!(read_u32(&g, &db, 40), want, "strided copy {s:?}");
    }
    // Copies: only the word tail, vec4 bulk plus tails of 1 and 2, bulk alone.
    for n in [1usize, 29, 30, 28] {
        let db = poisoned(&g, n);
        layout::copy(&g, v(&sb, 30), v(&db, n)).unwrap();
        assert_eq!(
            read_u32(&g, &db, n),
            cpu::layout::copy(&src, n),
            "copy of {n} words"
        );
    }
    assert!(layout::copy(&g, v(&sb, 30), v(&poisoned(&g, 40), 40)).is_err());
    let fb = poisoned(&g, 13);
    layout::fill(&g, v(&fb, 13), 2.5f32.to_bits()).unwrap();
    assert_eq!(read(&g, &fb, 13), vec![2.5; 13]);

    // gather along an axis and index_select, with an out-of-range index.
    let data = rand_vec(&mut r, 2 * 5 * 3, -1.0, 1.0);
    let db = up(&g, &data);
    for (gi, index) in [
        (
            Gather {
                outer: 2,
                j: 4,
                inner: 3,
                l: 5,
                index_1d: true,
            },
            vec![4u32, 0, 2, 9],
        ),
        (
            Gather {
                outer: 2,
                j: 2,
                inner: 3,
                l: 5,
                index_1d: false,
            },
            (0..12).map(|i| (i * 7 % 5) as u32).collect(),
        ),
    ] {
        let ib = up_u32(&g, &index);
        let n = gi.outer * gi.j * gi.inner;
        let out = poisoned(&g, n);
        layout::gather(&g, v(&db, 30), v(&ib, index.len()), v(&out, n), &gi).unwrap();
        let want: Vec<f64> = cpu::layout::gather(bytemuck::cast_slice(&data), &index, &gi)
            .iter()
            .map(|&b| f32::from_bits(b) as f64)
            .collect();
        exact("gather", &read(&g, &out, n), &want);
        // Each accumulator receives at most `j` values: a sum of j + 1
        // terms; on dyadic values every partial sum is exact.
        for dyadic_values in [false, true] {
            let (vals, base) = if dyadic_values {
                (dyadic(&mut r, n, 8, 3), dyadic(&mut r, 30, 8, 3))
            } else {
                (
                    rand_vec(&mut r, n, -1.0, 1.0),
                    rand_vec(&mut r, 30, -1.0, 1.0),
                )
            };
            let (vb, ab) = (up(&g, &vals), up(&g, &base));
            layout::scatter_add(&g, v(&ab, 30), v(&ib, index.len()), v(&vb, n), &gi).unwrap();
            let want = cpu::layout::scatter_add(&base, &index, &vals, &gi);
            let what = format!("scatter_add dyadic {dyadic_values}");
            if dyadic_values {
                exact(&what, &read(&g, &ab, 30), &want);
            } else {
                let mag = cpu::layout::scatter_add(&abs(&base), &index, &abs(&vals), &gi);
                summed(&what, &read(&g, &ab, 30), &want, &mag, gi.j + 1, Tol::EXACT);
            }
        }
    }
}
