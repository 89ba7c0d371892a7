//! The system clock and random booking codes.

use rand::Rng;

use application::ports::{Clock, CodeGenerator};
use domain::booking::{BookingCode, CODE_ALPHABET, CODE_LENGTH};
use domain::Timestamp;

/// The time now, from the operating system.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// Booking codes drawn uniformly from the code alphabet by a cryptographically secure
/// generator, so that codes cannot be guessed from ones seen before.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomCodeGenerator;

impl CodeGenerator for RandomCodeGenerator {
    fn generate(&self) -> BookingCode {
        let mut rng = rand::rng();
        // Picks below the alphabet size keep the draw uniform (no modulo bias).
        let alphabet_size = CODE_ALPHABET.len() as u32;
        let picks: [u32; CODE_LENGTH] = std::array::from_fn(|_| rng.random_range(0..alphabet_size));
        BookingCode::from_random(picks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_codes_parse_and_vary() {
        let codes: HashSet<String> = (0..200)
            .map(|_| {
                let code = RandomCodeGenerator.generate();
                assert_eq!(BookingCode::parse(code.as_str()), Ok(code.clone()));
                code.as_str().to_string()
            })
            .collect();
        // 31^5 possible codes: 200 draws colliding often would mean the picks are not random.
        assert!(codes.len() > 190, "only {} distinct codes", codes.len());
    }

    #[test]
    fn the_system_clock_tells_the_current_time() {
        let before = chrono::Utc::now();
        let now = SystemClock.now();
        assert!(before <= now && now <= chrono::Utc::now());
    }
}
