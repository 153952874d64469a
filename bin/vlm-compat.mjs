#!/usr/bin/env node
// The vlm-compat command: a thin launcher for the built CLI.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
