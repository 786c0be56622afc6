// Shared helpers for the kafkajs scripts driven by tests/integration/rig.py:
// JSON arguments in (argv[2] or stdin), JSON result out on stdout, kafkajs
// logs on stderr so stdout stays machine-readable.
'use strict'

const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('kafkajs-lz4')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec

const LEVELS = { nothing: logLevel.NOTHING, error: logLevel.ERROR, warn: logLevel.WARN,
  info: logLevel.INFO, debug: logLevel.DEBUG }

function readArgs () {
  if (process.argv.length > 2) return JSON.parse(process.argv[2])
  const fs = require('fs')
  const text = fs.readFileSync(0, 'utf8')
  return text.trim() ? JSON.parse(text) : {}
}

function stderrLogCreator () {
  return ({ namespace, level, label, log }) => {
    const { message, ...extra } = log
    process.stderr.write(`[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}\n`)
  }
}

function makeKafka (args) {
  const brokers = Array.isArray(args.brokers) ? args.brokers : String(args.bootstrap).split(',')
  return new Kafka({
    clientId: args.clientId || 'kt-kafkajs',
    brokers,
    logLevel: LEVELS[args.logLevel || process.env.KT_KAFKAJS_LOG || 'warn'],
    logCreator: stderrLogCreator,
    connectionTimeout: args.connectionTimeout || 3000,
    requestTimeout: args.requestTimeout || 10000,
    retry: args.retry || { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 }
  })
}

const CODECS = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }

// [[k, v], ...] -> kafkajs headers object (repeated keys become arrays).
function headersToKafkajs (pairs) {
  if (!pairs) return undefined
  const out = {}
  for (const [k, v] of pairs) {
    if (k in out) out[k] = [].concat(out[k], v)
    else out[k] = v
  }
  return out
}

// kafkajs headers object -> [[k, v], ...] with string values (null kept).
function headersFromKafkajs (obj) {
  const pairs = []
  for (const k of Object.keys(obj || {})) {
    const vals = Array.isArray(obj[k]) ? obj[k] : [obj[k]]
    for (const v of vals) pairs.push([k, v == null ? null : v.toString('utf8')])
  }
  return pairs
}

function emit (result) {
  process.stdout.write(JSON.stringify(result) + '\n')
}

// Disconnect, but give up after ms: a kafkajs group consumer's disconnect()
// sometimes never settles against the mock (seen under CPU load, after the
// result was complete). The caller exits the process afterwards.
async function disconnectWithin (client, ms, what) {
  let timer
  const timeout = new Promise(resolve => {
    timer = setTimeout(() => resolve('timeout'), ms)
  })
  const res = await Promise.race([client.disconnect().then(() => 'ok'), timeout])
  clearTimeout(timer)
  if (res === 'timeout') process.stderr.write(`kafkajs ${what} disconnect did not finish in ${ms} ms\n`)
  return res
}

function fail (err) {
  emit({ error: String(err && err.message ? err.message : err), type: err && err.name })
  process.exit(1)
}

module.exports = { makeKafka, readArgs, CODECS, headersToKafkajs, headersFromKafkajs, emit, fail,
  disconnectWithin }
