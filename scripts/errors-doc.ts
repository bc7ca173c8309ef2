// Writes docs/errors.md from src/model/errors.ts.
import { writeFileSync } from 'node:fs';
import { errorsMarkdown } from '../src/model/errors.ts';

writeFileSync(new URL('../docs/errors.md', import.meta.url), errorsMarkdown());
