"""Wire shapes the event sources produce, as Lambda documents them.

Handlers, the local cloud and the tests share these: an SQS batch event, a
Kinesis batch event, the partial-batch response, and the OnFailure record a
stream mapping sends when it discards records.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class SqsMessageAttribute(TypedDict, total=False):
    stringValue: str
    binaryValue: str  # base64
    stringListValues: list[str]
    binaryListValues: list[str]
    dataType: str


class SqsRecord(TypedDict):
    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]  # ApproximateReceiveCount, SentTimestamp, SenderId, ...
    messageAttributes: dict[str, SqsMessageAttribute]
    md5OfBody: str
    eventSource: Literal["aws:sqs"]
    eventSourceARN: str
    awsRegion: str


class SqsEvent(TypedDict):
    Records: list[SqsRecord]


class KinesisData(TypedDict):
    kinesisSchemaVersion: str
    partitionKey: str
    sequenceNumber: str
    data: str  # base64
    approximateArrivalTimestamp: float  # epoch seconds


class KinesisRecord(TypedDict):
    kinesis: KinesisData
    eventSource: Literal["aws:kinesis"]
    eventVersion: str
    eventID: str  # "<shardId>:<sequenceNumber>"
    eventName: Literal["aws:kinesis:record"]
    invokeIdentityArn: str
    awsRegion: str
    eventSourceARN: str


class KinesisEvent(TypedDict):
    Records: list[KinesisRecord]


class BatchItemFailure(TypedDict):
    itemIdentifier: str  # SQS messageId, Kinesis sequenceNumber


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


StreamFailureCondition = Literal["RetryAttemptsExhausted", "RecordAgeExceeded"]


class StreamRequestContext(TypedDict):
    requestId: str
    functionArn: str
    condition: StreamFailureCondition
    approximateInvokeCount: int


class StreamResponseContext(TypedDict):
    statusCode: int
    executedVersion: str
    functionError: NotRequired[str]


class KinesisBatchInfo(TypedDict):
    shardId: str
    startSequenceNumber: str
    endSequenceNumber: str
    approximateArrivalOfFirstRecord: str  # ISO 8601, milliseconds, Z
    approximateArrivalOfLastRecord: str
    batchSize: int
    streamArn: str


class KinesisOnFailureRecord(TypedDict):
    requestContext: StreamRequestContext
    # Absent when the records aged out before any invocation (no response to report).
    responseContext: NotRequired[StreamResponseContext]
    version: Literal["1.0"]
    timestamp: str
    KinesisBatchInfo: KinesisBatchInfo
