// Hands out inode numbers and directory cookies from ranges reserved in the MetaStore, so a create
// costs no allocIds round trip in the common case. Ids are increasing within one gateway, which is
// what makes directory cookies follow creation order here; ids left in a range at exit are simply
// never used.
import type { MetaStore } from '../backends/types.js';

export class IdPool {
  private next = 0;
  private end = 0;
  private refill: Promise<void> | undefined;

  constructor(
    private readonly meta: MetaStore,
    private readonly batch = 64,
  ) {}

  async take(): Promise<number> {
    for (;;) {
      if (this.next < this.end) return this.next++;
      if (!this.refill) {
        this.refill = this.meta.allocIds(this.batch).then(
          (first) => {
            if (!Number.isSafeInteger(first) || first < 2) throw new Error(`allocIds returned ${first}`);
            this.next = first;
            this.end = first + this.batch;
            this.refill = undefined;
          },
          (err: unknown) => {
            this.refill = undefined;
            throw err;
          },
        );
      }
      await this.refill;
    }
  }
}
