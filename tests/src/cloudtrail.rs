//! An organisation's CloudTrail trail as it lands in S3 (moto's, here): gzipped JSON files
//! `{"Records": [...]}` under `PREFIX/AWSLogs/ORG_ID/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`,
//! each named after the minute it was written
//! (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`), with records in CloudTrail's
//! documented shape (`userIdentity` of an assumed-role session, `eventTime`, `readOnly`,
//! `errorCode`, …). For the activity tests and the benchmark.
use std::io::Write;

use aws_sdk_s3::{Client, primitives::ByteStream};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

pub const PREFIX: &str = "org-trail";
pub const ORG_ID: &str = "o-a1b2c3d4e5";

pub struct Trail {
    pub client: Client,
    pub bucket: String,
}

impl Trail {
    /// The trail's bucket in the S3 at `endpoint` (created), written with `testing` credentials.
    pub async fn create(endpoint: &str, bucket: &str) -> anyhow::Result<Self> {
        let trail = Self::open(endpoint, bucket, "testing", "testing").await;
        trail.client.create_bucket().bucket(bucket).send().await?;
        Ok(trail)
    }

    /// The bucket as these credentials see it.
    pub async fn open(endpoint: &str, bucket: &str, key_id: &str, secret: &str) -> Self {
        let creds = aws_sdk_s3::config::Credentials::new(key_id, secret, None, None, "tests");
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(creds)
            .build();
        Self { client: Client::from_conf(config), bucket: bucket.to_owned() }
    }

    /// `[aws.activity]` for Elevate: this bucket at `endpoint`, both regions the tests log in.
    pub fn config(&self, endpoint: &str, delivery_delay: &str, collect_every: &str) -> String {
        format!(
            "\n[aws.activity]\nbucket = \"{}\"\nprefix = \"{PREFIX}\"\norganization_id = \"{ORG_ID}\"\n\
             regions = [\"us-east-1\", \"eu-west-1\"]\nendpoint_url = \"{endpoint}\"\n\
             delivery_delay = \"{delivery_delay}\"\ncollect_every = \"{collect_every}\"\n",
            self.bucket
        )
    }

    /// Writes one log file, as CloudTrail does at `written`; returns its key.
    pub async fn deliver(
        &self,
        account: &str,
        region: &str,
        written: DateTime<Utc>,
        records: &[Value],
    ) -> anyhow::Result<String> {
        let key = key(account, region, written, &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let body = gzip(records)?;
        self.client.put_object().bucket(&self.bucket).key(&key).body(ByteStream::from(body)).send().await?;
        Ok(key)
    }
}

pub fn key(account: &str, region: &str, written: DateTime<Utc>, unique: &str) -> String {
    format!(
        "{PREFIX}/AWSLogs/{ORG_ID}/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{unique}.json.gz",
        written.format("%Y/%m/%d"),
        written.format("%Y%m%dT%H%MZ"),
    )
}

pub fn gzip(records: &[Value]) -> anyhow::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json!({ "Records": records }).to_string().as_bytes())?;
    Ok(gz.finish()?)
}

/// One API call by the role session `ROLE/SESSION` of `account`, as CloudTrail records it.
pub struct Call<'a> {
    pub account: &'a str,
    pub role: &'a str,
    pub session: &'a str,
    pub at: DateTime<Utc>,
    /// `iam.amazonaws.com`
    pub source: &'a str,
    pub name: &'a str,
    pub read_only: bool,
    pub error: Option<&'a str>,
    pub region: &'a str,
}

impl Call<'_> {
    pub fn record(&self) -> Value {
        let Self { account, role, session, at, source, name, read_only, error, region } = self;
        let mut r = json!({
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": format!("AROAEXAMPLEROLEID:{session}"),
                "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                "accountId": account,
                "accessKeyId": "ASIAEXAMPLEKEY",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role", "principalId": "AROAEXAMPLEROLEID",
                        "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role,
                    },
                    "attributes": { "creationDate": at.to_rfc3339_opts(SecondsFormat::Secs, true), "mfaAuthenticated": "false" },
                },
            },
            "eventTime": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2.22.0",
            "requestParameters": {},
            "responseElements": null,
            "requestID": uuid::Uuid::new_v4().to_string(),
            "eventID": uuid::Uuid::new_v4().to_string(),
            "readOnly": read_only,
            "eventType": if *source == "signin.amazonaws.com" { "AwsConsoleSignIn" } else { "AwsApiCall" },
            "managementEvent": true,
            "recipientAccountId": account,
            "eventCategory": "Management",
        });
        if let Some(code) = error {
            r["errorCode"] = json!(code);
            r["errorMessage"] = json!(format!("You are not authorized to perform this operation ({code})."));
        }
        if *source == "signin.amazonaws.com" {
            r["responseElements"] = json!({ "ConsoleLogin": "Success" });
            r["additionalEventData"] =
                json!({ "MFAUsed": "No", "SamlProviderArn": format!("arn:aws:iam::{account}:saml-provider/AzureAD") });
        }
        r
    }
}

/// A busy account's day of CloudTrail logs for the benchmark: `files` files of `per_file`
/// records, written every few minutes through the day in two regions, each record a call
/// made up to five minutes before its file was written. One record in a hundred is a call of
/// one of `sessions` users of the admins' role, each in a one-hour window of their own; the
/// rest are other sessions of that role and of other roles.
pub struct SyntheticDay {
    pub day: DateTime<Utc>,
    pub account: String,
    pub files: usize,
    pub per_file: usize,
    pub sessions: usize,
}

pub const BUSY_ROLE: &str = "AzureAD-Admins";

pub struct DayFile {
    pub region: &'static str,
    pub written: DateTime<Utc>,
    pub gzipped: Vec<u8>,
    /// How many of its calls are each session's, inside its window.
    pub calls_of_sessions: Vec<u64>,
}

impl SyntheticDay {
    /// The session name of user `s` and their window.
    pub fn session(&self, s: usize) -> (String, DateTime<Utc>, DateTime<Utc>) {
        let from = self.day + chrono::Duration::minutes(30 + 60 * i64::try_from(s).unwrap_or(0));
        (format!("User{s:02}@Example.com"), from, from + chrono::Duration::hours(1))
    }

    /// File `i` of the day.
    pub fn file(&self, i: usize) -> anyhow::Result<DayFile> {
        let region = if i.is_multiple_of(2) { "us-east-1" } else { "eu-west-1" };
        let offset_ms =
            (86_400_000 - 1) * i64::try_from(i).unwrap_or(0) / i64::try_from(self.files.max(1)).unwrap_or(1);
        let written = self.day + chrono::Duration::milliseconds(offset_ms);
        let mut counts = vec![0u64; self.sessions];
        let mut body = String::with_capacity(self.per_file * 900 + 16);
        body.push_str("{\"Records\":[");
        for j in 0..self.per_file {
            let n = i * self.per_file + j;
            let at = written - chrono::Duration::milliseconds(i64::try_from((n * 7919) % 300_000).unwrap_or(0));
            let ours = (0..self.sessions).find(|s| {
                let (_, from, to) = self.session(*s);
                n.is_multiple_of(100) && at >= from && at <= to
            });
            let (role, session) = match ours {
                Some(s) => {
                    counts[s] += 1;
                    (BUSY_ROLE.to_owned(), self.session(s).0)
                }
                None if n.is_multiple_of(3) => (BUSY_ROLE.to_owned(), format!("other{:03}@example.com", n % 500)),
                None => (format!("Workload-{}", n % 40), format!("i-{:016x}", n % 5000)),
            };
            let (source, name, read_only) = [
                ("s3.amazonaws.com", "GetObject", true),
                ("ec2.amazonaws.com", "DescribeInstances", true),
                ("sts.amazonaws.com", "GetCallerIdentity", true),
                ("iam.amazonaws.com", "PutRolePolicy", false),
                ("lambda.amazonaws.com", "UpdateFunctionCode", false),
            ][n % 5];
            if j > 0 {
                body.push(',');
            }
            let account = &self.account;
            let time = at.to_rfc3339_opts(SecondsFormat::Secs, true);
            body.push_str(&format!(
                r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","principalId":"AROAEXAMPLE:{session}","arn":"arn:aws:sts::{account}:assumed-role/{role}/{session}","accountId":"{account}","accessKeyId":"ASIAEXAMPLE{n:08}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::{account}:role/{role}","accountId":"{account}","userName":"{role}"}},"attributes":{{"creationDate":"{time}","mfaAuthenticated":"false"}}}}}},"eventTime":"{time}","eventSource":"{source}","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"10.{}.{}.{}","userAgent":"aws-sdk-go-v2/1.30.0","requestParameters":{{"bucketName":"data-{}"}},"responseElements":null,"requestID":"{n:032x}","eventID":"{:032x}","readOnly":{read_only},"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{account}","eventCategory":"Management"}}"#,
                n % 250, (n / 250) % 250, n % 7, n % 90, n.wrapping_mul(2_654_435_761)
            ));
        }
        body.push_str("]}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body.as_bytes())?;
        Ok(DayFile { region, written, gzipped: gz.finish()?, calls_of_sessions: counts })
    }
}
