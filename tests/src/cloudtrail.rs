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
