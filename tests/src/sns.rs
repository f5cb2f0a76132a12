//! An SNS topic with an SQS subscription in moto, and the messages the queue received: how
//! tests read back what berth published.

use serde_json::Value;

use crate::{ACCOUNT, Env, REGION, between, raw_query, urlencode};

/// An SQS queue subscribed to a new SNS topic; (topic ARN, queue URL).
pub async fn topic_with_queue(env: &Env) -> (String, String) {
    let topic = env
        .clients
        .sns
        .create_topic()
        .name("berth-releases")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let created = raw_query(
        &env.moto.endpoint,
        "sqs",
        "Action=CreateQueue&QueueName=releases&Version=2012-11-05",
    )
    .await;
    let queue_url = between(&created, "<QueueUrl>", "</QueueUrl>");
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:releases");
    env.clients
        .sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    (topic, queue_url)
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The SNS notifications the queue received (the message each envelope carries).
pub async fn received(env: &Env, queue_url: &str) -> Vec<Value> {
    let query = format!(
        "Action=ReceiveMessage&QueueUrl={}&MaxNumberOfMessages=10&Version=2012-11-05",
        urlencode(queue_url)
    );
    let xml = raw_query(&env.moto.endpoint, "sqs", &query).await;
    xml.split("<Body>")
        .skip(1)
        .filter_map(|b| b.split("</Body>").next())
        .filter_map(|b| serde_json::from_str::<Value>(&unescape(b)).ok())
        .collect()
}
