//! What a grant's role session did, from the organisation's CloudTrail trail in S3
//! (`[aws.activity]`). CloudTrail delivers gzipped JSON files (`{"Records": [...]}`) to
//! `[PREFIX/]AWSLogs/[ORG_ID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`, each named after the
//! minute it was written (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`), some
//! minutes after the calls it holds. So a window's calls are in the files of the days from its
//! start to its end plus the delivery delay, named no earlier than its start and no later than
//! its end plus the delay: only those are listed (from a `start-after` key) and read.
//!
//! Files are read a few at a time and summed one record at a time as the decompressor yields
//! them, so no more than a few files are ever in memory, whatever the size of a day.
mod summary;

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region, sts::AssumeRoleProvider};
use aws_sdk_s3::Client;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use futures_util::{StreamExt, stream};
use serde::{
    Deserialize, Serialize,
    de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use serde_json::value::RawValue;

use super::{AwsError, classify};
use crate::config::{ActivitySettings, AwsSettings};
pub use summary::{ActionCount, Activity, SessionWindow, Summer};

/// Log files fetched at once.
const READ_AHEAD: usize = 8;

/// How far a grant's collection has come: per region, the last file (by key) up to which
/// every file's calls are summed in `settled`. Files are never changed once written, so no
/// later collection needs to read those again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    pub through: BTreeMap<String, String>,
    pub settled: Activity,
}

/// What one collection found: the progress to keep, and everything the window holds so far.
pub struct Collected {
    pub progress: Progress,
    pub activity: Activity,
}

pub struct CloudTrailLogs {
    client: Client,
    pub settings: ActivitySettings,
    regions: Vec<String>,
}

/// One place `elevate aws activity-check` looked, and what it found.
pub struct CheckedPrefix {
    pub location: String,
    pub outcome: Result<String, AwsError>,
}

impl CloudTrailLogs {
    pub async fn new(aws: &AwsSettings, settings: &ActivitySettings) -> Self {
        let region = settings.bucket_region.clone().unwrap_or_else(|| aws.region.clone());
        let loader = || aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.clone()));
        let mut config = loader().load().await;
        if let Some(role) = &settings.assume_role_arn {
            let provider = AssumeRoleProvider::builder(role).session_name("elevate").configure(&config).build().await;
            config = loader().credentials_provider(provider).load().await;
        }
        // A stalled S3 must not hold a collection (and its worker slot) for ever.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .read_timeout(std::time::Duration::from_secs(30))
            .operation_timeout(std::time::Duration::from_secs(120))
            .build();
        let mut builder =
            aws_sdk_s3::config::Builder::from(&config).timeout_config(timeouts).interceptor(super::timing::CallTiming);
        if let Some(url) = &settings.endpoint_url {
            builder = builder.endpoint_url(url).force_path_style(true);
        }
        Self { client: Client::from_conf(builder.build()), settings: settings.clone(), regions: aws.activity_regions() }
    }

    pub fn delivery_delay_ms(&self) -> i64 {
        self.settings.delivery_delay.as_millis()
    }

    pub fn collect_every_ms(&self) -> i64 {
        self.settings.collect_every.as_millis()
    }

    /// `s3://BUCKET/[PREFIX/]AWSLogs/[ORG_ID/]ACCOUNT/CloudTrail/REGION/`.
    fn region_prefix(&self, account: &str, region: &str) -> String {
        let mut p = String::new();
        if let Some(prefix) = &self.settings.prefix {
            p.push_str(prefix);
            p.push('/');
        }
        p.push_str("AWSLogs/");
        if let Some(org) = &self.settings.organization_id {
            p.push_str(org);
            p.push('/');
        }
        p.push_str(&format!("{account}/CloudTrail/{region}/"));
        p
    }

    /// What the session did inside its window, from every file that can hold its calls.
    pub async fn session_activity(&self, window: SessionWindow) -> Result<Activity, AwsError> {
        Ok(self.collect(window, Progress::default(), i64::MIN).await?.activity)
    }

    /// Reads the window's files that `progress` has not settled yet. Those written before
    /// `settle_before` (when all files written before then are surely in the bucket) are
    /// settled now, in key order per region, so that the next collection of a growing window
    /// starts after them; the others are read again next time.
    pub async fn collect(
        &self,
        window: SessionWindow,
        mut progress: Progress,
        settle_before: i64,
    ) -> Result<Collected, AwsError> {
        let mut keys = Vec::new();
        for region in &self.regions {
            let after = progress.through.get(region).map(String::as_str);
            let files = self.window_files(&window, region, after).await?;
            keys.extend(files.into_iter().map(|key| (region.clone(), key)));
        }
        let max = self.settings.max_write_records;
        let mut fresh = Activity::default();
        // Regions where a file was not settled: no later file of theirs settles either.
        let mut open = std::collections::HashSet::new();
        let mut files = stream::iter(keys)
            .map(|(region, key)| async move { Ok::<_, AwsError>((region, self.fetch(key).await?)) })
            .buffered(READ_AHEAD);
        while let Some(file) = files.next().await {
            let (region, Some((key, body))) = file? else { continue };
            let window = window.clone();
            // Decompressing and parsing is CPU work: off the async threads. A file counts whole
            // or not at all: what a broken one held before the break is not summed.
            let read = tokio::task::spawn_blocking(move || {
                let mut summer = Summer::new(window, max);
                sum_file(&body, &mut summer).map(|()| summer.finish())
            })
            .await
            .map_err(|e| AwsError::Transient { operation: "reading a log file", message: e.to_string() })?;
            // A name gives the minute written: all of that minute's files are in the bucket
            // once the whole minute is before `settle_before`.
            let settles = !open.contains(&region)
                && written_at(&key).is_some_and(|t| (t + Duration::minutes(1)).timestamp_millis() <= settle_before);
            let into = if settles { &mut progress.settled } else { &mut fresh };
            match read {
                Ok(found) => into.merge(Activity { files_read: 1, ..found }, max),
                Err(_) => into.unreadable_files.push(key.clone()),
            }
            if settles {
                progress.through.insert(region, key);
            } else {
                open.insert(region);
            }
        }
        let mut activity = progress.settled.clone();
        activity.merge(fresh, max);
        Ok(Collected { progress, activity })
    }

    /// The keys of the files of one region that can hold calls made inside the window, after
    /// the key `after` (a file already settled).
    async fn window_files(
        &self,
        window: &SessionWindow,
        region: &str,
        after: Option<&str>,
    ) -> Result<Vec<String>, AwsError> {
        let base = self.region_prefix(&window.account, region);
        let (from, until) = (millis(window.from), millis(window.to.saturating_add(self.delivery_delay_ms())));
        // A file is named after the minute it was written, which is never before its calls.
        let first_name = format!("{}_CloudTrail_{region}_{}", window.account, stamp(from - Duration::minutes(1)));
        let mut keys = Vec::new();
        let mut day = from.date_naive();
        while day <= until.date_naive() {
            let prefix = format!("{base}{}/", day.format("%Y/%m/%d"));
            // Settled up to a later day: nothing of this one is left to read.
            let settled_later = after.is_some_and(|a| a > prefix.as_str() && !a.starts_with(&prefix));
            if !settled_later {
                let window_start = (day == from.date_naive()).then(|| format!("{prefix}{first_name}"));
                let resume = after.filter(|a| a.starts_with(&prefix)).map(str::to_owned);
                let mut request = self.client.list_objects_v2().bucket(&self.settings.bucket).prefix(&prefix);
                if let Some(key) = window_start.max(resume) {
                    request = request.start_after(key);
                }
                let mut pages = request.into_paginator().send();
                'pages: while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("ListObjectsV2", &self.location(&prefix), e))?;
                    for key in page.contents().iter().filter_map(|o| o.key()) {
                        match written_at(key) {
                            Some(t) if t > until => break 'pages,
                            Some(t) if t < from - Duration::minutes(1) => {}
                            _ => keys.push(key.to_owned()),
                        }
                    }
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        Ok(keys)
    }

    /// One file's bytes; `None` when it was deleted since it was listed.
    async fn fetch(&self, key: String) -> Result<Option<(String, Vec<u8>)>, AwsError> {
        let out = match self.client.get_object().bucket(&self.settings.bucket).key(&key).send().await {
            Ok(out) => out,
            Err(e) => {
                return match classify("GetObject", &self.location(&key), e) {
                    AwsError::Permanent { code, .. } if code == "NoSuchKey" => Ok(None),
                    other => Err(other),
                };
            }
        };
        let body = out.body.collect().await.map_err(|e| AwsError::Transient {
            operation: "GetObject",
            message: format!("{}: {e}", self.location(&key)),
        })?;
        Ok(Some((key, body.to_vec())))
    }

    /// A failure to read the logs in words, with what to do about it (for the page, the API and
    /// `elevate aws activity-check`).
    pub fn explain(&self, e: &AwsError) -> String {
        let bucket = &self.settings.bucket;
        match e {
            AwsError::Permanent { code, .. } if code == "AccessDenied" || code == "AllAccessDisabled" => format!(
                "Elevate's AWS credentials may not read the CloudTrail bucket {bucket} ({e}): allow s3:ListBucket on \
                 arn:aws:s3:::{bucket} and s3:GetObject on arn:aws:s3:::{bucket}/*, in the reading identity's policy \
                 and in the bucket policy (and kms:Decrypt on the trail's key, if it encrypts with one)"
            ),
            AwsError::Permanent { code, .. }
                if code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" =>
            {
                format!("the bucket {bucket} is in another region ({e}): set [aws.activity] bucket_region")
            }
            AwsError::Permanent { code, .. } if code == "NoSuchBucket" => {
                format!("there is no S3 bucket {bucket} ({e}): check [aws.activity] bucket")
            }
            AwsError::Transient { .. } => format!("S3 did not answer ({e})"),
            other => other.to_string(),
        }
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.settings.bucket)
    }

    /// For `elevate aws activity-check`: lists the files of each account and region and reads
    /// one, so that a missing bucket or permission shows now rather than on a grant's page.
    pub async fn check(&self, accounts: &[String]) -> Vec<CheckedPrefix> {
        let mut checked = Vec::new();
        for account in accounts {
            for region in &self.regions {
                let prefix = self.region_prefix(account, region);
                let outcome = self.check_prefix(&prefix).await;
                checked.push(CheckedPrefix { location: self.location(&prefix), outcome });
            }
        }
        checked
    }

    async fn check_prefix(&self, prefix: &str) -> Result<String, AwsError> {
        let listed = self
            .client
            .list_objects_v2()
            .bucket(&self.settings.bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| classify("ListObjectsV2", &self.location(prefix), e))?;
        let Some(first) = listed.contents().iter().filter_map(|o| o.key()).next() else {
            return Ok("readable, but holds no log file yet (is the trail delivering here?)".into());
        };
        let more = if listed.is_truncated() == Some(true) { " or more" } else { "" };
        let Some((key, body)) = self.fetch(first.to_owned()).await? else {
            return Ok(format!("readable; {first} was deleted while it was read"));
        };
        let mut check = Summer::new(
            SessionWindow { account: String::new(), role: String::new(), session: String::new(), from: 0, to: 0 },
            0,
        );
        match sum_file(&body, &mut check) {
            Ok(()) => Ok(format!("{} files{more}; read {key}", listed.key_count().unwrap_or_default())),
            Err(e) => Ok(format!("readable, but {key} is not a gzipped CloudTrail log file: {e}")),
        }
    }
}

fn millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%MZ").to_string()
}

/// The minute a log file was written, from its name; `None` for a name not CloudTrail's.
fn written_at(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    let field = name.split('_').nth(3)?;
    NaiveDateTime::parse_from_str(field, "%Y%m%dT%H%MZ").ok().map(|t| t.and_utc())
}

/// Decompresses one log file and hands each record to the summer. The file's text is held
/// (one file, not the day) so that records are parsed in place, without a copy each.
fn sum_file(gzipped: &[u8], summer: &mut Summer) -> Result<(), serde_json::Error> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(gzipped), &mut text)
        .map_err(serde_json::Error::io)?;
    let mut de = serde_json::Deserializer::from_str(&text);
    EachRecord(summer).deserialize(&mut de)?;
    de.end()
}

/// `{"Records": [...]}`, visited one record at a time (other keys ignored).
struct EachRecord<'s>(&'s mut Summer);

impl<'de> DeserializeSeed<'de> for EachRecord<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EachRecord<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CloudTrail log file: {\"Records\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "Records" {
                map.next_value_seed(Records(&mut *self.0))?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found { Ok(()) } else { Err(serde::de::Error::missing_field("Records")) }
    }
}

struct Records<'s>(&'s mut Summer);

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<&'de RawValue>()? {
            self.0.add(record);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_files_minute_comes_from_its_name() {
        let key = "AWSLogs/o-abc/123456789012/CloudTrail/us-east-1/2026/12/03/123456789012_CloudTrail_us-east-1_20261203T1005Z_x1Y2.json.gz";
        assert_eq!(written_at(key).map(stamp).as_deref(), Some("20261203T1005Z"));
        assert_eq!(written_at("AWSLogs/123456789012/CloudTrail/us-east-1/2026/12/03/notes.txt"), None);
    }

    #[test]
    fn a_file_that_is_not_cloudtrails_is_refused_whole() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"Other": []}"#).unwrap_or_default();
        let bytes = gz.finish().unwrap_or_default();
        let window = SessionWindow { account: "1".into(), role: "r".into(), session: "s".into(), from: 0, to: 1 };
        let mut summer = Summer::new(window, 1);
        assert!(sum_file(&bytes, &mut summer).is_err());
        assert!(sum_file(b"not gzip", &mut summer).is_err());
    }
}
