/**
 * A growable FIFO ring buffer: O(1) push and shift without `Array.shift`'s
 * copying, used for mailboxes and ready queues.
 *
 * @module
 */

const MIN_CAPACITY = 8;

/**
 * A first-in first-out queue on a power-of-two circular array.
 *
 * @example
 * ```ts
 * import { RingBuffer } from "@denocos/denocos/core";
 *
 * const q = new RingBuffer<number>();
 * q.push(1);
 * q.push(2);
 * console.log(q.shift(), q.length); // 1 1
 * ```
 */
export class RingBuffer<T> {
  #items: (T | undefined)[];
  #head = 0;
  #length = 0;
  #mask: number;

  /**
   * Creates a `RingBuffer`.
   *
   * @param capacity initial capacity, rounded up to a power of two
   */
  constructor(capacity = MIN_CAPACITY) {
    let cap = MIN_CAPACITY;
    while (cap < capacity) cap *= 2;
    this.#items = new Array(cap);
    this.#mask = cap - 1;
  }

  /** How many items are queued. */
  get length(): number {
    return this.#length;
  }

  /** Appends an item at the tail. */
  push(item: T): void {
    if (this.#length > this.#mask) this.#grow();
    this.#items[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
  }

  /** Removes and returns the item at the head, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const items = this.#items;
    const item = items[this.#head];
    items[this.#head] = undefined; // let the message be collected
    this.#head = (this.#head + 1) & this.#mask;
    this.#length--;
    return item;
  }

  /** The item at the head without removing it. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** Drops every item. */
  clear(): void {
    this.#items = new Array(MIN_CAPACITY);
    this.#mask = MIN_CAPACITY - 1;
    this.#head = 0;
    this.#length = 0;
  }

  /** Iterates the items from head to tail without removing them. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#length; i++) {
      yield this.#items[(this.#head + i) & this.#mask] as T;
    }
  }

  #grow(): void {
    const old = this.#items;
    const cap = old.length * 2;
    const items = new Array<T | undefined>(cap);
    for (let i = 0; i < this.#length; i++) items[i] = old[(this.#head + i) & this.#mask];
    this.#items = items;
    this.#head = 0;
    this.#mask = cap - 1;
  }
}
