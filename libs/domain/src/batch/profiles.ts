/**
 * Gives each item its profile: its own when it names one, else the batch's default profile, else
 * the next name of the profile pool in turn (round-robin over the items that need one).
 */
export class ProfileAssigner {
  private next = 0;

  constructor(
    private readonly defaultProfile?: string,
    private readonly pool: readonly string[] = [],
  ) {}

  assign(own: string | null | undefined): string | undefined {
    if (own) return own;
    if (this.defaultProfile) return this.defaultProfile;
    if (this.pool.length === 0) return undefined;
    const profile = this.pool[this.next % this.pool.length];
    this.next++;
    return profile;
  }
}
