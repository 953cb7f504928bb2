export * from './ingest.module';
export * from './batch-intake.service';
export * from './read-models.service';
export * from './dto';
export * from './uploads';
