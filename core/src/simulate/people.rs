//! Deterministic, messy generated people.

/// A generated person, as a person would type them into either system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The position in the generated sequence; equal indexes are the same person.
    pub index: u64,
    /// First name.
    pub first_name: String,
    /// Last name; sometimes several words ("van der Berg"), sometimes empty.
    pub last_name: String,
    /// Email addresses; the first is the primary one. Zero to three; about one person in
    /// twenty has a primary email that fails the mapping's `email` validator (10to8
    /// accepts it).
    pub emails: Vec<String>,
    /// Phone numbers in mixed formats; zero to three.
    pub numbers: Vec<String>,
}

impl Person {
    /// The full name as 10to8 stores it (one field).
    pub fn full_name(&self) -> String {
        match (self.first_name.is_empty(), self.last_name.is_empty()) {
            (false, false) => format!("{} {}", self.first_name, self.last_name),
            (false, true) => self.first_name.clone(),
            (true, _) => self.last_name.clone(),
        }
    }
}

/// SplitMix64: a tiny generator whose output never changes between versions, so seeded data
/// is the same on every machine and in every release.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Amelia", "Noah", "Isla", "Oliver", "Ava", "George", "Mia", "Arthur", "Ivy",
    "Muhammad", "Freya", "Leo", "Sofia", "Jack", "Zoë", "Harry", "Chloé", "Oscar", "Aisha",
    "Mateo", "Siobhán", "Yusuf", "Hannah", "Jürgen", "Priya", "Tomás", "Mei", "Kofi",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "O'Neill",
    "van der Berg",
    "García Márquez",
    "Nguyen",
    "Okafor",
    "Kowalski",
    "Müller",
    "de la Cruz",
    "Singh",
    "Rossi",
    "Haddad",
    "Andersson",
];

const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "mail.example.net",
    "clinic.example",
];

/// Primary emails 10to8 accepts and the `email` validator rejects.
const INVALID_EMAIL_SHAPES: &[&str] = &[
    "{local}@{domain_no_tld}",
    "{local}@@{domain}",
    "{local} @{domain}",
    "{local}@{domain}.",
];

/// The people numbered `start..start + count` of the sequence seeded by `seed`.
///
/// Person `i` is the same whatever range it is generated in, so two simulators seeded with
/// overlapping ranges share exactly the people (and emails) in the overlap.
pub fn people(seed: u64, start: u64, count: u64) -> impl Iterator<Item = Person> {
    (start..start + count).map(move |index| person(seed, index))
}

fn person(seed: u64, index: u64) -> Person {
    let mut rng = SplitMix64::new(seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let first_name = (*rng.pick(FIRST_NAMES)).to_owned();
    let last_name = if rng.chance(4) {
        String::new()
    } else {
        (*rng.pick(LAST_NAMES)).to_owned()
    };
    let local = format!(
        "{}.{}{}",
        ascii_lower(&first_name),
        ascii_lower(last_name.split(' ').next_back().unwrap_or("x")),
        index
    );
    let email_count = match rng.below(100) {
        0..=7 => 0,
        8..=74 => 1,
        75..=94 => 2,
        _ => 3,
    };
    let mut emails = Vec::with_capacity(email_count);
    for n in 0..email_count {
        let domain = *rng.pick(DOMAINS);
        let local = if n == 0 {
            local.clone()
        } else {
            format!("{local}+{n}")
        };
        let email = if n == 0 && rng.chance(5) {
            let domain_no_tld = domain.split('.').next().unwrap_or(domain);
            rng.pick(INVALID_EMAIL_SHAPES)
                .replace("{local}", &local)
                .replace("{domain_no_tld}", domain_no_tld)
                .replace("{domain}", domain)
        } else if rng.chance(10) {
            format!("{}@{}", local.to_uppercase(), domain)
        } else {
            format!("{local}@{domain}")
        };
        emails.push(email);
    }
    let number_count = match rng.below(100) {
        0..=14 => 0,
        15..=79 => 1,
        80..=94 => 2,
        _ => 3,
    };
    let numbers = (0..number_count)
        .map(|_| {
            let digits = 100_000_000 + rng.below(900_000_000);
            match rng.below(3) {
                0 => format!("+44 7{digits}"),
                1 => format!("07{} {}", digits / 100_000, digits % 100_000),
                _ => format!("(555) {}-{:04}", digits % 1000, digits % 10_000),
            }
        })
        .collect();
    Person {
        index,
        first_name,
        last_name,
        emails,
        numbers,
    }
}

fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_the_same_whatever_range_generates_it() {
        let from_zero: Vec<_> = people(7, 0, 20).collect();
        let from_ten: Vec<_> = people(7, 10, 10).collect();
        assert_eq!(from_zero[10..], from_ten[..]);
        assert_ne!(people(8, 0, 1).next(), people(7, 0, 1).next());
    }

    #[test]
    fn generated_people_are_messy_but_emails_are_unique() {
        let all: Vec<_> = people(1, 0, 2000).collect();
        let emails: Vec<_> = all.iter().flat_map(|p| p.emails.iter()).collect();
        let unique: std::collections::HashSet<_> =
            emails.iter().map(|e| e.to_lowercase()).collect();
        assert_eq!(unique.len(), emails.len(), "emails are unique");
        assert!(all.iter().any(|p| p.emails.is_empty()));
        assert!(all.iter().any(|p| p.emails.len() >= 3));
        assert!(all.iter().any(|p| p.numbers.len() >= 2));
        assert!(all.iter().any(|p| p.last_name.contains(' ')));
        assert!(all.iter().any(|p| p.last_name.is_empty()));
        let invalid = all
            .iter()
            .filter(|p| {
                p.emails.first().is_some_and(|e| {
                    e.contains("@@")
                        || e.contains(' ')
                        || e.ends_with('.')
                        || !e.split('@').nth(1).unwrap_or("").contains('.')
                })
            })
            .count();
        assert!(
            (40..=120).contains(&invalid),
            "about 5% of 2000 have an invalid primary: {invalid}"
        );
    }
}
