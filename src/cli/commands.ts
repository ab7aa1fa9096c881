import type { Command } from 'commander';
import { register as boot } from './boot.js';
import { register as doctor } from './doctor.js';
import { register as images } from './images.js';
import { register as init } from './init.js';
import { register as lab } from './lab.js';
import { register as validate } from './validate.js';
import { register as discover } from './discover.js';
import { register as enroll } from './enroll.js';
import { register as bmc } from './bmc.js';
import { register as embedded } from './embedded.js';
import { register as provision } from './provision.js';
import { register as rebuild } from './rebuild.js';
import { register as undeploy } from './undeploy.js';

/**
 * One register function per command file (src/cli/<command>.ts). Keep this
 * list the only place that knows them all, so adding a command is one line.
 */
export type Register = (program: Command) => void;

export const commands: Register[] = [init, validate, lab, discover, enroll, bmc, doctor, images, boot, embedded, provision, rebuild, undeploy];
