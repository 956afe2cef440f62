//! The absorbing Markov chain of customer journeys (SPEC 3a) and the two
//! data-driven models read off it: the removal effect (`markov`) and the Shapley
//! value of the chain's conversion probability (`shapley`). Everything is solved
//! exactly in Float64: no simulation, no sampling.
//!
//! States: `start`, one per channel, and the absorbing `conversion` and `null`.
//! A journey c₁…cₘ counts start→c₁, every cᵢ→cᵢ₊₁ and cₘ→conversion (or →null).
//! The probability that a walk from `start` ends in `conversion` solves
//! (I − Q)x = r over the transient states, Q their transitions among themselves
//! and r their transitions into `conversion`: one dense solve of |channels| + 1
//! unknowns. Removing a set of channels sends every transition into them to `null`,
//! which here means leaving their columns out.

use std::collections::BTreeMap;

use thiserror::Error;

/// The most channels whose Shapley values are solved: the exact value needs the
/// conversion probability of all 2^|N| channel sets, one solve each. Measured
/// (docs/attribution.md): 16 channels 0.3 s, 18 channels 1.4 s, 20 channels 4.3 s;
/// every channel more doubles the sets and grows each solve.
pub const MAX_SHAPLEY_CHANNELS: usize = 20;

/// Why the chain cannot be solved.
#[derive(Debug, Error, PartialEq)]
pub enum ChainError {
    /// More channels than the exact Shapley value is solved for.
    #[error(
        "the journeys hold {0} channels; the exact Shapley value solves the chain for all \
         2^{0} channel sets and stride solves it for at most {MAX_SHAPLEY_CHANNELS} channels"
    )]
    TooManyChannels(usize),
}

/// Where a counted transition starts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum From {
    Start,
    Channel(String),
}

/// Where a counted transition goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum To {
    Channel(String),
    Conversion,
    Null,
}

/// Transition counts of a set of journeys: what the chain is built from, and what
/// partial aggregates hand each other (counts add).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transitions {
    counts: BTreeMap<(From, To), u64>,
}

/// One channel's figure under one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelEffect {
    pub channel: String,
    /// `markov`: (P(conv) − P₋ₖ(conv)) / P(conv); `shapley`: φₖ / P(conv).
    pub removal_effect: f64,
    /// The channel's part of the model's total, in [0, 1].
    pub share: f64,
}

/// What the chain says: its conversion probability and both models' effects, one
/// entry per channel in name order.
#[derive(Debug, Clone, PartialEq)]
pub struct Effects {
    pub conversion_probability: f64,
    pub markov: Vec<ChannelEffect>,
    pub shapley: Vec<ChannelEffect>,
}

impl Transitions {
    /// Counts one journey: its path of channels (consecutive repeats are expected
    /// merged already; a repeat left in is a self-transition) and whether it converts.
    /// An empty path counts nothing.
    pub fn add_journey<S: AsRef<str>>(&mut self, path: &[S], converts: bool) {
        let Some(last) = path.last() else {
            return;
        };
        let mut from = From::Start;
        for channel in path {
            let channel = channel.as_ref().to_string();
            self.add(from, To::Channel(channel.clone()), 1);
            from = From::Channel(channel);
        }
        let end = if converts { To::Conversion } else { To::Null };
        self.add(From::Channel(last.as_ref().to_string()), end, 1);
    }

    /// Adds `count` transitions from `from` to `to`.
    pub fn add(&mut self, from: From, to: To, count: u64) {
        *self.counts.entry((from, to)).or_insert(0) += count;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Transitions) {
        for ((from, to), count) in &other.counts {
            self.add(from.clone(), to.clone(), *count);
        }
    }

    /// Every counted transition.
    pub fn iter(&self) -> impl Iterator<Item = (&From, &To, u64)> {
        self.counts.iter().map(|((f, t), c)| (f, t, *c))
    }

    /// The channels of the chain, in name order.
    pub fn channels(&self) -> Vec<String> {
        let mut channels: Vec<String> = self
            .counts
            .keys()
            .flat_map(|(from, to)| {
                let from = match from {
                    From::Channel(c) => Some(c.clone()),
                    From::Start => None,
                };
                let to = match to {
                    To::Channel(c) => Some(c.clone()),
                    _ => None,
                };
                from.into_iter().chain(to)
            })
            .collect();
        channels.sort();
        channels.dedup();
        channels
    }

    /// Solves the chain for both models. No journey, or none converting: every
    /// effect and share is 0.
    pub fn solve(&self) -> Result<Effects, ChainError> {
        let chain = Chain::new(self);
        let n = chain.channels.len();
        if n > MAX_SHAPLEY_CHANNELS {
            return Err(ChainError::TooManyChannels(n));
        }
        let all = (1u64 << n) - 1;
        let p = chain.conversion_probability(all);

        let removal: Vec<f64> = (0..n)
            .map(|k| {
                if p > 0.0 {
                    // Removing a channel only sends walks to `null`, so P₋ₖ ≤ P:
                    // the clamp only absorbs rounding.
                    ((p - chain.conversion_probability(all & !(1 << k))) / p).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let phi = if p > 0.0 {
            chain.shapley_values()
        } else {
            vec![0.0; n]
        };
        let shapley_effects: Vec<f64> = phi
            .iter()
            .map(|v| {
                if p > 0.0 {
                    (v / p).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        Ok(Effects {
            conversion_probability: p,
            markov: effects(&chain.channels, &removal, &removal),
            shapley: effects(&chain.channels, &shapley_effects, &phi),
        })
    }
}

/// Each channel's effect, with its share of `weights`' total (0 when that is 0).
fn effects(channels: &[String], removal: &[f64], weights: &[f64]) -> Vec<ChannelEffect> {
    let total: f64 = weights.iter().sum();
    channels
        .iter()
        .zip(removal.iter().zip(weights))
        .map(|(channel, (effect, weight))| ChannelEffect {
            channel: channel.clone(),
            removal_effect: *effect,
            share: if total > 0.0 { weight / total } else { 0.0 },
        })
        .collect()
}

/// The chain as probabilities over numbered states: 0 is `start`, k + 1 channel k.
struct Chain {
    channels: Vec<String>,
    /// `moves[i][j]`: from transient state i to transient state j.
    moves: Vec<Vec<f64>>,
    /// `converts[i]`: from transient state i to `conversion`.
    converts: Vec<f64>,
}

impl Chain {
    fn new(transitions: &Transitions) -> Chain {
        let channels = transitions.channels();
        let index: BTreeMap<&str, usize> = channels
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i + 1))
            .collect();
        let states = channels.len() + 1;
        let mut moves = vec![vec![0.0; states]; states];
        let mut converts = vec![0.0; states];
        let mut totals = vec![0.0; states];
        for (from, to, count) in transitions.iter() {
            let i = match from {
                From::Start => 0,
                From::Channel(c) => index[c.as_str()],
            };
            let count = count as f64;
            totals[i] += count;
            match to {
                To::Channel(c) => moves[i][index[c.as_str()]] += count,
                To::Conversion => converts[i] += count,
                To::Null => {}
            }
        }
        for (i, total) in totals.iter().enumerate() {
            if *total > 0.0 {
                moves[i].iter_mut().for_each(|m| *m /= total);
                converts[i] /= total;
            }
        }
        Chain {
            channels,
            moves,
            converts,
        }
    }

    /// P(conv) with only the channels in `kept` (bit k: channel k) left in the
    /// chain; transitions into the others go to `null`.
    fn conversion_probability(&self, kept: u64) -> f64 {
        let states: Vec<usize> = std::iter::once(0)
            .chain(
                (0..self.channels.len())
                    .filter(|k| kept & (1 << k) != 0)
                    .map(|k| k + 1),
            )
            .collect();
        let m = states.len();
        // (I − Q) | r, solved by Gaussian elimination with partial pivoting.
        let mut a: Vec<Vec<f64>> = states
            .iter()
            .enumerate()
            .map(|(row, &i)| {
                let mut line: Vec<f64> = states
                    .iter()
                    .enumerate()
                    .map(|(col, &j)| f64::from(u8::from(row == col)) - self.moves[i][j])
                    .collect();
                line.push(self.converts[i]);
                line
            })
            .collect();
        for col in 0..m {
            let pivot = (col..m)
                .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
                .unwrap_or(col);
            a.swap(col, pivot);
            let p = a[col][col];
            if p == 0.0 {
                // Only a state no walk can leave would make this 0, and every
                // counted state has a way out; read it as never converting.
                continue;
            }
            let pivot_row = a[col].clone();
            for (row, line) in a.iter_mut().enumerate() {
                let factor = line[col] / p;
                if row != col && factor != 0.0 {
                    for (value, pivot_value) in line.iter_mut().zip(&pivot_row).skip(col) {
                        *value -= factor * pivot_value;
                    }
                }
            }
        }
        let start = &a[0];
        if start[0] == 0.0 {
            0.0
        } else {
            start[m] / start[0]
        }
    }

    /// φₖ = Σ over S ⊆ N∖{k} of |S|!·(|N|−|S|−1)!/|N|! · (v(S ∪ {k}) − v(S)).
    fn shapley_values(&self) -> Vec<f64> {
        let n = self.channels.len();
        let worth: Vec<f64> = (0..1u64 << n)
            .map(|set| {
                if set == 0 {
                    0.0
                } else {
                    self.conversion_probability(set)
                }
            })
            .collect();
        // weight[s] = s!(n − s − 1)!/n! = 1 / (n · C(n − 1, s)).
        let weight: Vec<f64> = (0..n)
            .map(|s| 1.0 / (n as f64 * binomial(n - 1, s)))
            .collect();
        (0..n)
            .map(|k| {
                let bit = 1u64 << k;
                (0..1u64 << n)
                    .filter(|set| set & bit == 0)
                    .map(|set| {
                        weight[set.count_ones() as usize]
                            * (worth[(set | bit) as usize] - worth[set as usize])
                    })
                    .sum()
            })
            .collect()
    }
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(journeys: &[(&str, bool)]) -> Effects {
        let mut t = Transitions::default();
        for (path, converts) in journeys {
            let path: Vec<&str> = path.split('>').collect();
            t.add_journey(&path, *converts);
        }
        t.solve().expect("solvable")
    }

    fn close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() < 1e-12,
            "{what}: {actual} != {expected}"
        );
    }

    fn of<'a>(effects: &'a [ChannelEffect], channel: &str) -> &'a ChannelEffect {
        effects
            .iter()
            .find(|e| e.channel == channel)
            .expect("channel")
    }

    // A>B>C converts, A does not, B>C does not, A>C converts.
    // Counts: start→A 3, start→B 1; A→B 1, A→C 1, A→null 1; B→C 2; C→conv 2, C→null 1.
    // P(C) = 2/3, P(B) = P(C) = 2/3, P(A) = (P(B) + 0 + P(C))/3 = 4/9,
    // P(conv) = 3/4 · 4/9 + 1/4 · 2/3 = 1/2.
    // Without A: 1/4 · 2/3 = 1/6, RE 2/3. Without B: 3/4 · (1/3 · 2/3) = 1/6, RE 2/3.
    // Without C: 0, RE 1. Shares 2/7, 2/7, 3/7 of 2 conversions: 4/7, 4/7, 6/7.
    const FOUR_PATHS: [(&str, bool); 4] =
        [("A>B>C", true), ("A", false), ("B>C", false), ("A>C", true)];

    #[test]
    fn removal_effects_of_four_paths() {
        let e = chain(&FOUR_PATHS);
        close(e.conversion_probability, 0.5, "P(conv)");
        close(of(&e.markov, "A").removal_effect, 2.0 / 3.0, "RE A");
        close(of(&e.markov, "B").removal_effect, 2.0 / 3.0, "RE B");
        close(of(&e.markov, "C").removal_effect, 1.0, "RE C");
        close(of(&e.markov, "A").share * 2.0, 4.0 / 7.0, "credit A");
        close(of(&e.markov, "B").share * 2.0, 4.0 / 7.0, "credit B");
        close(of(&e.markov, "C").share * 2.0, 6.0 / 7.0, "credit C");
    }

    // A>B>A>C converts in place of A>B>C. Counts: start→A 3, start→B 1;
    // A→B 1, A→C 2, A→null 1; B→A 1, B→C 1; C→conv 2, C→null 1.
    // P(C) = 2/3; P(A) = P(B)/4 + P(C)/2, P(B) = P(A)/2 + P(C)/2 → P(A) = 10/21,
    // P(B) = 4/7; P(conv) = 3/4 · 10/21 + 1/4 · 4/7 = 1/2.
    // Without A: P(B) = 1/3, P = 1/12, RE 5/6. Without B: P(A) = 1/3, P = 1/4,
    // RE 1/2. Without C: RE 1. Shares 5/14, 3/14, 6/14 of 2: 5/7, 3/7, 6/7.
    #[test]
    fn removal_effects_with_a_channel_repeated_apart() {
        let e = chain(&[
            ("A>B>A>C", true),
            ("A", false),
            ("B>C", false),
            ("A>C", true),
        ]);
        close(e.conversion_probability, 0.5, "P(conv)");
        close(of(&e.markov, "A").removal_effect, 5.0 / 6.0, "RE A");
        close(of(&e.markov, "B").removal_effect, 0.5, "RE B");
        close(of(&e.markov, "A").share * 2.0, 5.0 / 7.0, "credit A");
        close(of(&e.markov, "B").share * 2.0, 3.0 / 7.0, "credit B");
        close(of(&e.markov, "C").share * 2.0, 6.0 / 7.0, "credit C");
    }

    // Worths of the four paths' chain, each a chain with the channels outside S sent
    // to null: v(A) = v(B) = v(C) = v(AB) = 0 (no way to C, or C never reached);
    // v(AC) = 3/4 · 1/3 · 2/3 = 1/6; v(BC) = 1/4 · 1 · 2/3 = 1/6; v(ABC) = 1/2.
    // Weights for |N| = 3: |S| = 0 → 1/3, 1 → 1/6, 2 → 1/3.
    // φA = 1/3·0 + 1/6·((v(AB) − v(B)) + (v(AC) − v(C))) + 1/3·(v(ABC) − v(BC))
    //    = 1/36 + 1/9 = 5/36; φB = 5/36 likewise;
    // φC = 1/6·(1/6 + 1/6) + 1/3·(1/2 − 0) = 2/9. Σ = 1/2 = P(conv).
    #[test]
    fn shapley_values_of_four_paths() {
        let e = chain(&FOUR_PATHS);
        let p = e.conversion_probability;
        close(of(&e.shapley, "A").removal_effect * p, 5.0 / 36.0, "φA");
        close(of(&e.shapley, "B").removal_effect * p, 5.0 / 36.0, "φB");
        close(of(&e.shapley, "C").removal_effect * p, 2.0 / 9.0, "φC");
        close(of(&e.shapley, "A").share, 5.0 / 18.0, "share A");
        close(of(&e.shapley, "C").share, 4.0 / 9.0, "share C");
    }

    #[test]
    fn a_chain_where_nothing_converts_gives_zeros() {
        let e = chain(&[("A>B", false), ("B", false)]);
        assert_eq!(e.conversion_probability, 0.0);
        for effect in e.markov.iter().chain(&e.shapley) {
            assert_eq!(
                (effect.removal_effect, effect.share),
                (0.0, 0.0),
                "{effect:?}"
            );
        }
        assert_eq!(e.markov.len(), 2);
    }

    // One channel, 1 of 3 journeys converting: P = 1/3; removing it leaves 0, so
    // RE = 1 and φ = v({A}) = 1/3: both models give it everything.
    #[test]
    fn one_channel_earns_everything() {
        let e = chain(&[("A", true), ("A", false), ("A", false)]);
        close(e.conversion_probability, 1.0 / 3.0, "P(conv)");
        for effect in e.markov.iter().chain(&e.shapley) {
            close(effect.removal_effect, 1.0, "effect");
            close(effect.share, 1.0, "share");
        }
    }

    #[test]
    fn no_journey_gives_no_channel() {
        let e = Transitions::default().solve().expect("solvable");
        assert!(e.markov.is_empty() && e.shapley.is_empty());
        assert_eq!(e.conversion_probability, 0.0);
    }

    // 30 channels in a ring: each journey walks k → k+1 and converts at the end.
    // The dense solve stays exact (every journey converts: P = 1, and each channel
    // is needed by the journeys through it); Shapley refuses, saying why.
    #[test]
    fn thirty_channels_solve_for_markov_and_refuse_shapley() {
        let names: Vec<String> = (0..30).map(|k| format!("c{k:02}")).collect();
        let mut t = Transitions::default();
        for k in 0..30 {
            t.add_journey(&[&names[k], &names[(k + 1) % 30]], true);
        }
        assert_eq!(t.solve(), Err(ChainError::TooManyChannels(30)));
        let chain = Chain::new(&t);
        let all = (1u64 << 30) - 1;
        close(chain.conversion_probability(all), 1.0, "P(conv)");
        // Each channel moves on or converts, half and half. Without c00: c29 → c00
        // goes to null, so P(c29) = 1/2, P(c28) = 3/4, P(cₖ) = 1 − 2^−(30−k); walks
        // starting at c00 (1/30) are lost: P = (29 − Σⱼ₌₁²⁹ 2^−j)/30 = (28 + 2^−29)/30.
        let without = chain.conversion_probability(all & !1);
        close(without, (28.0 + 0.5f64.powi(29)) / 30.0, "P without c00");
    }

    #[test]
    fn partial_counts_add_up_to_the_whole() {
        let mut whole = Transitions::default();
        let mut one = Transitions::default();
        let mut two = Transitions::default();
        for (i, (path, converts)) in FOUR_PATHS.iter().enumerate() {
            let path: Vec<&str> = path.split('>').collect();
            whole.add_journey(&path, *converts);
            if i % 2 == 0 { &mut one } else { &mut two }.add_journey(&path, *converts);
        }
        one.merge(&two);
        assert_eq!(one, whole);
    }
}
