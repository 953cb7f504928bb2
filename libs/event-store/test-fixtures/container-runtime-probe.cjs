// Tells whether testcontainers finds a container engine, as one line of JSON on stdout.
// Jest collects tests synchronously, and testcontainers can only answer asynchronously: the EventStoreDB
// spec runs this with plain `node` (spawnSync) to decide, while collecting, what it registers.
'use strict';

const { getContainerRuntimeClient } = require('testcontainers');

const answer = (verdict) => {
  process.stdout.write(`${JSON.stringify(verdict)}\n`);
  // The runtime client may keep sockets open; the answer is all that is wanted.
  process.exit(0);
};

getContainerRuntimeClient().then(
  (client) => answer({ available: true, engine: client.info.containerRuntime.host }),
  (error) => answer({ available: false, reason: error instanceof Error ? error.message : String(error) }),
);
