export * from './ingest.module';
export * from './batch-intake.service';
export { MAX_ROWS_WITH_ERRORS } from './row-problems';
export * from './read-models.service';
export * from './dto';
export * from './uploads';
