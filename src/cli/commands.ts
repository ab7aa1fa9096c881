import type { Command } from 'commander';
import { register as bmc } from './bmc.js';
import { register as boot } from './boot.js';
import { register as discover } from './discover.js';
import { register as doctor } from './doctor.js';
import { register as down } from './down.js';
import { register as enroll } from './enroll.js';
import { register as handoff } from './handoff.js';
import { register as images } from './images.js';
import { register as init } from './init.js';
import { register as lab } from './lab.js';
import { register as logs } from './logs.js';
import { register as provision } from './provision.js';
import { register as rebuild } from './rebuild.js';
import { register as render } from './render.js';
import { register as status } from './status.js';
import { register as undeploy } from './undeploy.js';
import { register as up } from './up.js';
import { register as validate } from './validate.js';

/**
 * One register function per command file (src/cli/<command>.ts). Keep this
 * list the only place that knows them all, so adding a command is one line.
 */
export type Register = (program: Command) => void;

export const commands: Register[] = [
  init,
  validate,
  render,
  up,
  down,
  status,
  logs,
  lab,
  images,
  enroll,
  bmc,
  handoff,
  doctor,
  boot,
  rebuild,
  undeploy,
  discover,
  provision,
];
