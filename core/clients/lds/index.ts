export { LdsClient, LdsUserSession, LdsDevice, isFinalized, type NewLdsSession } from './client.ts';
