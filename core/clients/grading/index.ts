export { GradingClient, GradingScoreReport, GradingView, type GradingInterface, type GradingPod, type NewGrading } from './client.ts';
