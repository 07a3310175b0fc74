// Sends one journey through a real tracking library, as a customer's backend would, to
// a CJaaS host: @segment/analytics-node (the default) or @rudderstack/rudder-sdk-node
// (which gzips its batches and labels them application/x-www-form-urlencoded). The Rust
// tests run it and then read the Tape.
//
//   node tests/node/send.mjs <host, e.g. http://127.0.0.1:8080> <write key> <run id> [segment|rudderstack]
//
// Exits 1 if the client reports any delivery failure.
import { Analytics } from '@segment/analytics-node'
import RudderAnalytics from '@rudderstack/rudder-sdk-node'

const [host, writeKey, run, library = 'segment'] = process.argv.slice(2)
if (!host || !writeKey || !run || !['segment', 'rudderstack'].includes(library)) {
  console.error('usage: node send.mjs <host> <write key> <run id> [segment|rudderstack]')
  process.exit(2)
}

let failures = 0
const failed = (error) => {
  failures += 1
  console.error('delivery failed:', error?.reason?.message ?? error?.message ?? error)
}

/// The library's client, and how to flush it and wait.
function client() {
  if (library === 'segment') {
    const analytics = new Analytics({ writeKey, host, flushAt: 50, flushInterval: 200, maxRetries: 2 })
    analytics.on('error', failed)
    return { analytics, close: () => analytics.closeAndFlush({ timeout: 15_000 }) }
  }
  const analytics = new RudderAnalytics(writeKey, {
    dataPlaneUrl: host, flushAt: 50, flushInterval: 200, retryCount: 2, logLevel: 'error', errorHandler: failed,
  })
  const close = () => new Promise((resolve) => analytics.flush((error) => { if (error) failed(error); resolve() }))
  return { analytics, close }
}

const { analytics, close } = client()
const anonymousId = `anon-${run}`
const userId = `user-${run}`
const start = Date.now() - 60_000
const at = (second) => new Date(start + second * 1000)

analytics.page({ anonymousId, name: 'Pricing', properties: { path: '/pricing' }, timestamp: at(0) })
analytics.track({ anonymousId, event: 'Product Viewed', properties: { sku: 'PRO' }, timestamp: at(1) })
analytics.identify({ userId, anonymousId, traits: { email: `${run}@example.com` }, timestamp: at(2) })
analytics.track({ userId, event: 'Order Completed', properties: { total: 49 }, timestamp: at(3) })
analytics.screen({ userId, name: 'Home', timestamp: at(4) })
analytics.group({ userId, groupId: 'acme-co', traits: { plan: 'pro' }, timestamp: at(5) })
analytics.alias({ userId, previousId: `legacy-${run}`, timestamp: at(6) })

await close()
console.log(JSON.stringify({ library, sent: 7, failures }))
process.exit(failures > 0 ? 1 : 0)
