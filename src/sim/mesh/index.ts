export * from './sim.js';
