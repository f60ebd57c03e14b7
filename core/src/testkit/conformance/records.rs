//! The record checks: round trip, find, paging, read and write batches, per-record failures.

use std::collections::HashSet;

use futures_util::TryStreamExt;

use super::ConformanceHarness;
use super::outcome::{Broken, Checked, Outcome, Promise, ensure};
use crate::connector::{CrmWrite, ErrorKind, ListQuery, WriteOutcome};
use crate::record::{CrmId, CrmRecord};

fn props(pairs: &[(&str, &str)]) -> crate::record::Properties {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect()
}

/// The create of a new record keyed by `key` in the key property, as the engine sends it to
/// this connector: an upsert where the CRM upserts natively, else a create.
fn create(h: &dyn ConformanceHarness, key: &str, properties: &[(&str, &str)]) -> CrmWrite {
    let fields = h.fields();
    let mut properties = props(properties);
    properties.insert(fields.key.clone(), key.into());
    if h.connector().write_abilities().upserts() {
        CrmWrite::Upsert {
            id_property: fields.key,
            key: key.to_owned(),
            properties,
        }
    } else {
        CrmWrite::Create {
            id_property: fields.key,
            key: key.to_owned(),
            properties,
        }
    }
}

/// Three writes past two full batches: two full calls and one partial one.
fn past_two_batches(limit: usize) -> usize {
    limit * 2 + (limit / 2).max(1)
}

async fn list_all(
    h: &dyn ConformanceHarness,
    properties: &[&str],
    archived: bool,
) -> Result<Vec<Vec<CrmRecord>>, Broken> {
    h.connector()
        .list(ListQuery {
            properties: properties.iter().map(|p| (*p).to_owned()).collect(),
            archived,
        })
        .try_collect()
        .await
        .or_broken("listing succeeds")
}

fn written(outcome: &WriteOutcome, what: &str) -> Result<(CrmId, bool), Broken> {
    match outcome {
        WriteOutcome::Written { id, created } => Ok((id.clone(), *created)),
        other => Err(Broken(format!("{what} succeeds, got {other:?}"))),
    }
}

fn failed_kind(outcome: &WriteOutcome, what: &str) -> Result<ErrorKind, Broken> {
    match outcome {
        WriteOutcome::Failed(error) => Ok(error.kind().clone()),
        other => Err(Broken(format!("{what} fails, got {other:?}"))),
    }
}

/// Creates are retry-safe (a repeated upsert hits the same record; without native upsert, a
/// created record is found again by its key), read/list see exactly the requested properties,
/// update changes a record, archive hides it from reads and shows it in the archived listing.
pub(super) async fn round_trip(h: &dyn ConformanceHarness) -> Checked {
    h.prepare().await;
    let f = h.fields();
    let text = f.text.as_str();
    let match_one = f
        .matching
        .as_ref()
        .map(|m| (m.property.clone(), h.match_value("rt1")));
    let mut first = vec![(text, "One")];
    if let Some((property, value)) = &match_one {
        first.push((property, value));
    }
    let c = h.connector();
    let outcomes = c
        .write(vec![
            create(h, "rt-1", &first),
            create(h, "rt-2", &[(text, "Two")]),
        ])
        .await
        .or_broken("a write of two new records succeeds")?;
    ensure!(
        outcomes.len() == 2,
        "one outcome per write, got {outcomes:?}"
    );
    let (one, created) = written(&outcomes[0], "the first create")?;
    ensure!(created, "a new key creates a record");
    let (two, _) = written(&outcomes[1], "the second create")?;
    ensure!(one != two, "two creates make two records, both got {one}");

    if c.write_abilities().upserts() {
        let again = c
            .write(vec![create(h, "rt-1", &[(text, "Uno")])])
            .await
            .or_broken("a repeated create succeeds")?;
        ensure!(
            again.len() == 1 && written(&again[0], "the repeated create")? == (one.clone(), false),
            "a repeated create hits the same record and says it is not new, got {again:?}"
        );
    } else {
        // Without native upsert the engine never repeats a create: it finds the record an
        // interrupted create made by its key, and updates it.
        let found = c
            .find(&f.key, &["rt-1".to_owned()], &[text.to_owned()])
            .await
            .or_broken("find succeeds")?;
        ensure!(
            found.iter().map(|r| &r.id).collect::<Vec<_>>() == vec![&one],
            "a created record is found again by its key, got {found:?}"
        );
        let again = c
            .write(vec![CrmWrite::Update {
                id: one.clone(),
                properties: props(&[(text, "Uno")]),
            }])
            .await
            .or_broken("an update of the found record succeeds")?;
        ensure!(
            again.len() == 1 && written(&again[0], "the update")? == (one.clone(), false),
            "the update writes the found record and creates nothing, got {again:?}"
        );
    }

    let mut wanted = vec![text.to_owned(), f.key.clone()];
    wanted.extend(match_one.iter().map(|(property, _)| property.clone()));
    let read = c
        .read(&[one.clone(), h.unknown_id(), two.clone()], &wanted)
        .await
        .or_broken("a read succeeds")?;
    ensure!(read.len() == 3, "one answer per id, got {}", read.len());
    let Some(first) = &read[0] else {
        return Err(Broken(format!("record {one} reads back")));
    };
    ensure!(first.id == one, "answers come in the order of the ids");
    ensure!(
        first.property(text) == "Uno" && first.property(&f.key) == "rt-1",
        "a read shows the last write, got {:?}",
        first.properties
    );
    ensure!(read[1].is_none(), "an unknown id reads as None");
    ensure!(
        read[2].as_ref().map(|r| &r.id) == Some(&two),
        "answers come in the order of the ids"
    );
    for record in read.iter().flatten() {
        for name in record.properties.keys() {
            ensure!(
                wanted.contains(name),
                "unrequested property {name} returned"
            );
        }
    }

    let pages = list_all(h, &[text], false).await?;
    let listed: Vec<&CrmRecord> = pages.iter().flatten().filter(|r| r.id == one).collect();
    ensure!(listed.len() == 1, "the listing has the record once");
    ensure!(
        listed[0].properties.keys().collect::<Vec<_>>() == vec![text],
        "the listing carries exactly the requested properties, got {:?}",
        listed[0].properties
    );

    let updated = c
        .write(vec![CrmWrite::Update {
            id: two.clone(),
            properties: props(&[(text, "Deux")]),
        }])
        .await
        .or_broken("an update succeeds")?;
    ensure!(
        written(&updated[0], "the update")? == (two.clone(), false),
        "an update writes the record it names and creates nothing"
    );
    let read = c
        .read(std::slice::from_ref(&two), &wanted)
        .await
        .or_broken("a read succeeds")?;
    ensure!(
        read[0].as_ref().map(|r| r.property(text)) == Some("Deux"),
        "a read shows the update, got {read:?}"
    );

    let archived = c
        .write(vec![CrmWrite::Archive { id: two.clone() }])
        .await
        .or_broken("an archive succeeds")?;
    ensure!(
        matches!(&archived[0], WriteOutcome::Archived { id } if *id == two),
        "an archive says it archived the record, got {archived:?}"
    );
    let read = c
        .read(std::slice::from_ref(&two), &wanted)
        .await
        .or_broken("a read succeeds")?;
    ensure!(read[0].is_none(), "an archived record reads as None");
    let bin = list_all(h, &[text], true).await?;
    let in_bin: Vec<&CrmRecord> = bin.iter().flatten().filter(|r| r.id == two).collect();
    ensure!(
        in_bin.len() == 1 && in_bin[0].archived,
        "the archived listing has the archived record once, marked archived"
    );
    Ok(Outcome::Passed)
}

/// `find` returns the live records whose key property holds one of the values, and never
/// archived ones (the engine finds an interrupted create's record so on a CRM without native
/// upsert).
pub(super) async fn find(h: &dyn ConformanceHarness) -> Checked {
    let f = h.fields();
    h.prepare().await;
    let c = h.connector();
    let outcomes = c
        .write(vec![create(h, "fd-1", &[(&f.text, "Found")])])
        .await
        .or_broken("a create succeeds")?;
    let (id, _) = written(&outcomes[0], "the create")?;
    let wanted = vec![f.key.clone(), f.text.clone()];
    let values = ["fd-1".to_owned(), "fd-nobody".to_owned()];
    let found = c
        .find(&f.key, &values, &wanted)
        .await
        .or_broken("find succeeds")?;
    ensure!(
        found.iter().map(|r| &r.id).collect::<Vec<_>>() == vec![&id],
        "find returns exactly the record holding the key, got {found:?}"
    );
    c.write(vec![CrmWrite::Archive { id: id.clone() }])
        .await
        .or_broken("an archive succeeds")?;
    let found = c
        .find(&f.key, &values[..1], &wanted)
        .await
        .or_broken("find succeeds")?;
    ensure!(found.is_empty(), "find never returns archived records");
    Ok(Outcome::Passed)
}

/// A full listing of more than two pages yields every record once, in pages within the page
/// size and with no more calls than pages.
pub(super) async fn paging(h: &dyn ConformanceHarness) -> Checked {
    h.prepare().await;
    let page_size = h.limits().page_size;
    let count = past_two_batches(page_size) + 1;
    let text = h.fields().text;
    let before: usize = list_all(h, &[], false).await?.iter().map(Vec::len).sum();
    let seeded = h.seed(count).await;
    ensure!(seeded.len() == count, "the harness seeds what it is asked");
    h.reset_calls().await;
    let pages = list_all(h, &[&text], false).await?;
    let total: usize = pages.iter().map(Vec::len).sum();
    ensure!(
        total == before + count,
        "every record listed: {total} of {}",
        before + count
    );
    let ids: HashSet<&CrmId> = pages.iter().flatten().map(|r| &r.id).collect();
    ensure!(ids.len() == total, "no record listed twice");
    ensure!(
        seeded.iter().all(|id| ids.contains(id)),
        "every seeded record listed"
    );
    ensure!(
        pages.iter().all(|p| p.len() <= page_size),
        "pages stay within {page_size} records"
    );
    let calls = h.calls().await;
    ensure!(
        calls.list <= (total as u64).div_ceil(page_size as u64) + 1,
        "{} list calls for {total} records at {page_size} a page",
        calls.list
    );
    ensure!(calls.search == 0, "a full listing never uses search");
    Ok(Outcome::Passed)
}

/// A read of more than two batches uses the fewest calls the read batch allows and answers in
/// the order of the ids.
pub(super) async fn read_batches(h: &dyn ConformanceHarness) -> Checked {
    h.prepare().await;
    let limit = h.limits().read_batch;
    let count = past_two_batches(limit);
    let ids = h.seed(count).await;
    let text = h.fields().text;
    h.reset_calls().await;
    let read = h
        .connector()
        .read(&ids, std::slice::from_ref(&text))
        .await
        .or_broken("a read succeeds")?;
    let calls = h.calls().await.batch_read;
    ensure!(
        calls == count.div_ceil(limit) as u64,
        "{count} ids read in {calls} calls at {limit} a call"
    );
    ensure!(read.len() == count, "one answer per id");
    for (id, record) in ids.iter().zip(&read) {
        ensure!(
            record.as_ref().map(|r| &r.id) == Some(id),
            "answers come in the order of the ids: {id} got {:?}",
            record.as_ref().map(|r| &r.id)
        );
    }
    Ok(Outcome::Passed)
}

/// A write of more than two batches uses the fewest calls the write batch allows and its
/// outcomes come in the order of the writes.
pub(super) async fn write_batches(h: &dyn ConformanceHarness) -> Checked {
    h.prepare().await;
    let limit = h.limits().write_batch;
    let count = past_two_batches(limit);
    let f = h.fields();
    let writes = (0..count)
        .map(|i| create(h, &format!("wb-{i}"), &[(&f.text, &format!("batch {i}"))]))
        .collect();
    h.reset_calls().await;
    let outcomes = h
        .connector()
        .write(writes)
        .await
        .or_broken("a write succeeds")?;
    let calls = h.calls().await.batch_write;
    ensure!(
        calls == count.div_ceil(limit) as u64,
        "{count} writes in {calls} calls at {limit} a call"
    );
    ensure!(outcomes.len() == count, "one outcome per write");
    let ids = outcomes
        .iter()
        .map(|o| written(o, "each create").map(|(id, _)| id))
        .collect::<Result<Vec<_>, _>>()?;
    let read = h
        .connector()
        .read(&ids, &[f.text.clone(), f.key.clone()])
        .await
        .or_broken("a read succeeds")?;
    for (i, record) in read.iter().enumerate() {
        let key = record.as_ref().map(|r| r.property(&f.key));
        ensure!(
            key == Some(format!("wb-{i}").as_str()),
            "outcome {i} names the record of write {i}, got the one keyed {key:?}"
        );
    }
    Ok(Outcome::Passed)
}

/// An update of a record that does not exist fails alone, as not found.
pub(super) async fn missing_record(h: &dyn ConformanceHarness) -> Checked {
    h.prepare().await;
    let f = h.fields();
    let created = h
        .connector()
        .write(vec![create(h, "pr-1", &[(&f.text, "Before")])])
        .await
        .or_broken("a create succeeds")?;
    let (id, _) = written(&created[0], "the create")?;
    let outcomes = h
        .connector()
        .write(vec![
            CrmWrite::Update {
                id: h.unknown_id(),
                properties: props(&[(&f.text, "X")]),
            },
            CrmWrite::Update {
                id: id.clone(),
                properties: props(&[(&f.text, "After")]),
            },
        ])
        .await
        .or_broken("a write with a missing record still succeeds as a whole")?;
    ensure!(outcomes.len() == 2, "one outcome per write");
    let kind = failed_kind(&outcomes[0], "the update of a missing record")?;
    ensure!(
        kind == ErrorKind::NotFound,
        "a missing record is NotFound, got {kind:?}"
    );
    ensure!(
        written(&outcomes[1], "the other update")? == (id, false),
        "one failed record never fails the others"
    );
    Ok(Outcome::Passed)
}

/// A value the CRM refuses fails its own write, naming the property; the others succeed.
pub(super) async fn invalid_value(h: &dyn ConformanceHarness) -> Checked {
    let Some((property, bad)) = h.invalid_value() else {
        return Ok(Outcome::NotApplicable(
            "the harness names no value the CRM refuses".to_owned(),
        ));
    };
    h.prepare().await;
    let f = h.fields();
    let outcomes = h
        .connector()
        .write(vec![
            create(h, "iv-1", &[(&f.text, "Fine")]),
            create(h, "iv-2", &[(&property, &bad)]),
            create(h, "iv-3", &[(&f.text, "Fine")]),
        ])
        .await
        .or_broken("a write with a refused value still succeeds as a whole")?;
    ensure!(outcomes.len() == 3, "one outcome per write");
    let kind = failed_kind(&outcomes[1], "the write of a refused value")?;
    ensure!(
        kind == ErrorKind::Invalid {
            field: Some(property.clone())
        },
        "a refused value is Invalid naming {property}, got {kind:?}"
    );
    ensure!(
        written(&outcomes[0], "the first valid create")?.1
            && written(&outcomes[2], "the last valid create")?.1,
        "one refused record never fails the others"
    );
    Ok(Outcome::Passed)
}

/// A create holding another record's unique match value fails as a conflict naming that
/// record; the others succeed.
pub(super) async fn unique_conflict(h: &dyn ConformanceHarness) -> Checked {
    let f = h.fields();
    let Some(matching) = f.matching.as_ref().filter(|m| m.unique) else {
        return Ok(Outcome::NotApplicable(
            "the connector declares no unique match property".to_owned(),
        ));
    };
    h.prepare().await;
    let property = matching.property.as_str();
    let existing = h.seed(1).await.remove(0);
    let taken = h.match_value("taken");
    h.edit(&existing, &[(property, &taken)]).await;
    let outcomes = h
        .connector()
        .write(vec![
            create(h, "uc-1", &[(property, &h.match_value("fine1"))]),
            create(h, "uc-2", &[(property, &taken)]),
            create(h, "uc-3", &[(property, &h.match_value("fine3"))]),
        ])
        .await
        .or_broken("a write with a conflict still succeeds as a whole")?;
    ensure!(outcomes.len() == 3, "one outcome per write");
    let kind = failed_kind(&outcomes[1], "the create of a taken value")?;
    ensure!(
        kind == ErrorKind::Conflict {
            existing_id: Some(existing.clone())
        },
        "a taken value is a Conflict naming {existing}, got {kind:?}"
    );
    ensure!(
        written(&outcomes[0], "the first create")?.1 && written(&outcomes[2], "the last create")?.1,
        "one conflicting record never fails the others"
    );
    Ok(Outcome::Passed)
}
