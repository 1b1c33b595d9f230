export { TeacherSession, type LogitsBatch, type TeacherDevice, type TeacherSessionOptions, type TopkBatch, type TopkOn } from './session.js';
export { TeacherError, TeacherNonFiniteError, TEACHER_NON_FINITE } from './errors.js';
export { fuseTopkHead, TOPK_IDS_OUTPUT, TOPK_LOGPROBS_OUTPUT, type FuseTopkHeadOptions, type LseMode } from './fuse-head.js';
export { buildSyntheticTeacher, writeSyntheticTeacher, type SyntheticTeacher, type SyntheticTeacherOptions } from './synthetic.js';
export { syntheticSamples, BOS_ID, type SyntheticSamplesOptions } from './synthetic-data.js';
export { findLogitsOutput, type LogitsInfo } from './fuse-head.js';
export { inspectTeacher, type TeacherInfo } from './inspect.js';
export { RemoteTeacher, type TopkTeacher } from './remote-session.js';
