// Consume with a kafkajs group consumer until "count" messages arrived or
// "timeout" ms passed, then leave the group and print the messages.
// Args (JSON, argv[2] or stdin):
//   { "bootstrap": "h:p,...", "topic": "t" | "topics": [...], "groupId": "g",
//     "count": n, "timeout": ms, "fromBeginning": true,
//     "sessionTimeout": 6000, "maxWaitTimeInMs": 100 }
// Result: { "messages": [{"topic", "partition", "offset", "key", "value",
//            "headers": [[k, v], ...], "timestamp"}], "timedOut": bool }
'use strict'

const { makeKafka, readArgs, headersFromKafkajs, emit, fail, disconnectWithin } = require('./common')

function str (buf) {
  return buf == null ? null : buf.toString('utf8')
}

async function main () {
  const args = readArgs()
  const kafka = makeKafka(args)
  const groupId = args.groupId || `kt-kafkajs-${process.pid}-${Date.now()}`
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: args.sessionTimeout || 6000,
    heartbeatInterval: args.heartbeatInterval || 1000,
    rebalanceTimeout: args.rebalanceTimeout || 6000,
    maxWaitTimeInMs: args.maxWaitTimeInMs || 100,
    allowAutoTopicCreation: false
  })
  const count = args.count || 0
  const timeout = args.timeout || 30000
  const messages = []
  let done
  const finished = new Promise(resolve => { done = resolve })
  await consumer.connect()
  try {
    const topics = args.topics || [args.topic]
    await consumer.subscribe({ topics, fromBeginning: args.fromBeginning !== false })
    await consumer.run({
      autoCommit: args.autoCommit !== false,
      eachMessage: async ({ topic, partition, message }) => {
        messages.push({
          topic,
          partition,
          offset: Number(message.offset),
          key: str(message.key),
          value: str(message.value),
          headers: headersFromKafkajs(message.headers),
          timestamp: Number(message.timestamp)
        })
        if (count && messages.length >= count) done(false)
      }
    })
    const timer = setTimeout(() => done(true), timeout)
    const timedOut = await finished
    clearTimeout(timer)
    // Leave the group (commits, LeaveGroup) before reporting.
    const left = await disconnectWithin(consumer, args.disconnectTimeout || 10000, 'consumer')
    emit({ messages: messages.slice(), timedOut, groupId, disconnect: left })
  } catch (err) {
    await disconnectWithin(consumer, 5000, 'consumer')
    throw err
  }
}

main().then(() => process.exit(0), fail)
