#!/usr/bin/env node
// The meshshift CLI as a kubectl plugin: with this file on PATH as `kubectl-meshshift`, `kubectl meshshift …`
// runs `meshshift …` (e.g. `kubectl meshshift status <migration id> -w`, `kubectl meshshift crd`).
import './meshshift.js';
