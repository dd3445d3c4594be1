//! Which binding each generated packet belongs to: a deterministic PRNG, uniform and Zipf-skewed popularity.

/// SplitMix64: small, fast, deterministic; good enough to pick keys.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for the n used here).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `0..n` in a random order (Fisher–Yates).
pub fn permutation(n: u32, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut rng = Rng::new(seed);
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u32 + 1) as usize;
        v.swap(i, j);
    }
    v
}

/// How often each binding is hit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Popularity {
    /// Every binding equally often.
    Uniform,
    /// Rank r (1-based) drawn with probability ∝ 1 / r^s; ranks are mapped to bindings by a random permutation, so
    /// the hot bindings are scattered over the tables.
    Zipf(f64),
}

impl Popularity {
    pub fn name(self) -> String {
        match self {
            Popularity::Uniform => "uniform".into(),
            Popularity::Zipf(s) => format!("zipf{s}"),
        }
    }
}

/// Draws binding indices in `0..n` with a given popularity.
pub struct KeySampler {
    n: u32,
    rng: Rng,
    /// Zipf: cumulative probabilities by rank, and rank → binding.
    cdf: Vec<f64>,
    rank_to_binding: Vec<u32>,
}

impl KeySampler {
    pub fn new(n: u32, popularity: Popularity, seed: u64) -> Self {
        let (cdf, rank_to_binding) = match popularity {
            Popularity::Uniform => (Vec::new(), Vec::new()),
            Popularity::Zipf(s) => {
                let mut cdf = Vec::with_capacity(n as usize);
                let mut total = 0.0;
                for rank in 1..=n {
                    total += 1.0 / f64::from(rank).powf(s);
                    cdf.push(total);
                }
                for c in &mut cdf {
                    *c /= total;
                }
                (cdf, permutation(n, seed ^ 0x5eed))
            }
        };
        KeySampler { n, rng: Rng::new(seed), cdf, rank_to_binding }
    }

    pub fn draw(&mut self) -> u32 {
        if self.cdf.is_empty() {
            return self.rng.below(self.n);
        }
        let u = self.rng.unit();
        let rank = self.cdf.partition_point(|&c| c < u).min(self.n as usize - 1);
        self.rank_to_binding[rank]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(1000, 7);
        assert_ne!(p[..10], (0..10).collect::<Vec<_>>()[..]);
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn zipf_is_skewed_and_uniform_is_not() {
        let n = 10_000;
        let draws = 200_000;
        let top_share = |pop| {
            let mut s = KeySampler::new(n, pop, 1);
            let mut hits = vec![0u32; n as usize];
            for _ in 0..draws {
                hits[s.draw() as usize] += 1;
            }
            hits.sort_unstable_by(|a, b| b.cmp(a));
            hits[..100].iter().sum::<u32>() as f64 / draws as f64
        };
        // The top 1% of bindings: about 1-2% of traffic when uniform, over half with Zipf s = 0.99.
        assert!(top_share(Popularity::Uniform) < 0.03);
        assert!(top_share(Popularity::Zipf(0.99)) > 0.5);
    }
}
