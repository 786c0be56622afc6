// Produce messages with kafkajs and print what the broker acknowledged.
// Args (JSON, argv[2] or stdin):
//   { "bootstrap": "h:p,...", "topic": "t",
//     "messages": [{"key": s|null, "value": s|null, "headers": [[k, v], ...], "partition": n}],
//     "compression": "none|gzip|snappy|lz4", "acks": -1|0|1, "batchSize": n (messages per send) }
// Result: { "records": [{"partition": n, "offset": "n"}], ... } or { "error": "..." }
'use strict'

const { Partitioners } = require('kafkajs')
const { makeKafka, readArgs, CODECS, headersToKafkajs, emit, fail, disconnectWithin } = require('./common')

async function main () {
  const args = readArgs()
  const kafka = makeKafka(args)
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent: false
  })
  await producer.connect()
  const codec = CODECS[args.compression || 'none']
  if (codec === undefined) throw new Error(`unknown compression ${args.compression}`)
  const messages = (args.messages || []).map(m => {
    const out = { key: m.key, value: m.value, headers: headersToKafkajs(m.headers) }
    if (m.partition !== undefined && m.partition !== null) out.partition = m.partition
    if (m.timestamp !== undefined) out.timestamp = String(m.timestamp)
    return out
  })
  const batch = args.batchSize || messages.length || 1
  const records = []
  try {
    for (let i = 0; i < messages.length; i += batch) {
      const res = await producer.send({
        topic: args.topic,
        messages: messages.slice(i, i + batch),
        compression: codec,
        acks: args.acks === undefined ? -1 : args.acks,
        timeout: args.timeout || 10000
      })
      for (const r of res) records.push({ partition: r.partition, offset: r.baseOffset, error: r.errorCode })
    }
  } finally {
    await disconnectWithin(producer, 5000, 'producer')
  }
  emit({ records, count: messages.length })
}

main().then(() => process.exit(0), fail)
